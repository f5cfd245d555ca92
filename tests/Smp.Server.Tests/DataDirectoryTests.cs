using Smp.Protocol.Smp;
using Smp.Server.Persistence;

using static Smp.Server.Tests.Replies;

namespace Smp.Server.Tests;

/// <summary>One server per data directory, and no silent new key beside an existing store (docs/server.md, "Data directory").</summary>
public sealed class DataDirectoryTests
{
    private static Dictionary<string, byte[]> Snapshot(string dir) =>
        Directory.GetFiles(dir).Where(f => !f.EndsWith(DataDirectoryLock.LockFileName, StringComparison.Ordinal))
            .ToDictionary(f => f, File.ReadAllBytes);

    [Fact]
    public async Task A_second_server_on_a_data_directory_in_use_is_refused_and_touches_nothing()
    {
        await using var s = await TestServer.StartAsync();
        byte[] rid, sid;
        await using (var c = await s.ConnectAsync())
        {
            (rid, sid) = await c.CreateQueueAsync(TestKeys.Recipient);
            Assert.IsType<SmpCommand.Ok>(await c.CommandAsync(null, sid, Send("before")));
        }
        var before = Snapshot(s.DataDirectory);

        var e = await Assert.ThrowsAsync<SmpServerStartException>(() => SmpServer.StartAsync(TestServer.DefaultOptions(s.DataDirectory)));
        Assert.Equal(SmpServerStartFailure.DataDirectoryInUse, e.Failure);
        Assert.Equal(Environment.ProcessId, e.HolderProcessId);
        Assert.Equal(Path.GetFullPath(s.DataDirectory), e.Path);
        Assert.Contains(s.DataDirectory, e.Message, StringComparison.Ordinal);
        Assert.Contains($"process {Environment.ProcessId}", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);

        Assert.Equal(before, Snapshot(s.DataDirectory));
        await using (var c = await s.ConnectAsync())
        {
            Assert.IsType<SmpCommand.Ok>(await c.CommandAsync(null, sid, Send("after")));
            Assert.Equal("before", BodyOf(await c.RequestAsync(TestKeys.Recipient, rid, SmpCommand.SubCommand)));
        }
        // Stopped, the directory is free again, and its pid file is gone.
        await s.RestartAsync();
        Assert.Equal(2, s.Server.Stats.StoredMessages);
        Assert.Equal(Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture),
            (await File.ReadAllTextAsync(Path.Combine(s.DataDirectory, DataDirectoryLock.PidFileName))).Trim());
        await s.Server.StopAsync();
        Assert.False(File.Exists(Path.Combine(s.DataDirectory, DataDirectoryLock.PidFileName)));
    }

    [Fact]
    public async Task A_missing_key_beside_an_existing_store_is_refused_until_a_new_key_is_allowed()
    {
        await using var s = await TestServer.StartAsync();
        var oldHash = s.Server.Address.KeyHash;
        byte[] rid;
        await using (var c = await s.ConnectAsync()) (rid, _) = await c.CreateQueueAsync(TestKeys.Recipient);
        await s.Server.StopAsync();
        var keyPath = Path.Combine(s.DataDirectory, ServerKeyFile.FileName);
        File.Delete(keyPath);
        var before = Snapshot(s.DataDirectory);

        var e = await Assert.ThrowsAsync<SmpServerStartException>(() => SmpServer.StartAsync(s.Options));
        Assert.Equal(SmpServerStartFailure.KeyMissing, e.Failure);
        Assert.Equal(keyPath, e.Path);
        Assert.Contains(keyPath, e.Message, StringComparison.Ordinal);
        Assert.Contains("new server address for every client", e.Message, StringComparison.Ordinal);
        Assert.Contains("--new-key", e.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(keyPath));
        Assert.Equal(before, Snapshot(s.DataDirectory));

        // The refusal released the directory; with a new key allowed the same store comes back under a new address.
        s.Options.AllowNewKey = true;
        await s.RestartAsync();
        Assert.NotEqual(oldHash, s.Server.Address.KeyHash);
        Assert.True(File.Exists(keyPath));
        Assert.Equal(1, s.Server.Stats.Queues);
        await using var r = await s.ConnectAsync();
        Assert.IsType<SmpCommand.Ok>(await r.CommandAsync(TestKeys.Recipient, rid, SmpCommand.SubCommand));
    }

    [Fact]
    public async Task A_journal_alone_counts_as_a_store_for_the_key_check()
    {
        var dir = TestServer.NewDataDirectory();
        try
        {
            await File.WriteAllTextAsync(Path.Combine(dir, "messages.3.journal"), "");
            var e = await Assert.ThrowsAsync<SmpServerStartException>(() => SmpServer.StartAsync(TestServer.DefaultOptions(dir)));
            Assert.Equal(SmpServerStartFailure.KeyMissing, e.Failure);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task A_first_start_in_an_empty_directory_makes_a_key_without_being_asked()
    {
        await using var s = await TestServer.StartAsync();
        Assert.True(File.Exists(Path.Combine(s.DataDirectory, ServerKeyFile.FileName)));
    }
}
