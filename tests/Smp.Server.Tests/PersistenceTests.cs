using System.Diagnostics;
using System.Reflection;
using System.Text;
using Smp.Protocol.Crypto;
using Smp.Protocol.Encodings;
using Smp.Protocol.Smp;
using Smp.Server.Persistence;

using static Smp.Server.Tests.Replies;

namespace Smp.Server.Tests;

/// <summary>Queues and accepted messages survive restarts and crashes (docs/protocol/smp.md §8–9).</summary>
public sealed class PersistenceTests
{
    [Fact]
    public async Task Queues_and_unacknowledged_messages_survive_a_restart()
    {
        var rk = TestKeys.Recipient;
        var sk = TestKeys.Sender;
        await using var s = await TestServer.StartAsync();
        (byte[] Rid, byte[] Sid) open, secured, suspended, deleted;
        await using (var c = await s.ConnectAsync())
        {
            open = await c.CreateQueueAsync(rk);
            secured = await c.CreateQueueAsync(rk);
            suspended = await c.CreateQueueAsync(rk);
            deleted = await c.CreateQueueAsync(rk);
            Assert.IsType<SmpCommand.Ok>(await c.CommandAsync(rk, secured.Rid, new SmpCommand.Key(SmpRsa.ExportPublicKey(sk))));
            foreach (var m in new[] { "a1", "a2", "a3" }) Assert.IsType<SmpCommand.Ok>(await c.CommandAsync(null, open.Sid, Send(m)));
            Assert.IsType<SmpCommand.Ok>(await c.CommandAsync(sk, secured.Sid, Send("s1")));
            Assert.IsType<SmpCommand.Ok>(await c.CommandAsync(null, suspended.Sid, Send("o1")));
            Assert.IsType<SmpCommand.Ok>(await c.CommandAsync(rk, suspended.Rid, SmpCommand.OffCommand));
            Assert.IsType<SmpCommand.Ok>(await c.CommandAsync(null, deleted.Sid, Send("d1")));
            Assert.IsType<SmpCommand.Ok>(await c.CommandAsync(rk, deleted.Rid, SmpCommand.DelCommand));
            // a1 is delivered (NEW subscribed us) and acknowledged: it must not come back.
            Assert.Equal("a2", BodyOf(await c.RequestAsync(rk, open.Rid, SmpCommand.AckCommand)));
        }
        await s.RestartAsync();
        Assert.Equal(3, s.Server.Stats.Queues);
        Assert.Equal(4, s.Server.Stats.StoredMessages);
        await using var r = await s.ConnectAsync();
        Assert.Equal("a2", BodyOf(await r.RequestAsync(rk, open.Rid, SmpCommand.SubCommand)));
        Assert.Equal("a3", BodyOf(await r.RequestAsync(rk, open.Rid, SmpCommand.AckCommand)));
        Assert.Equal("s1", BodyOf(await r.RequestAsync(rk, secured.Rid, SmpCommand.SubCommand)));
        Assert.Equal(SmpErrorCode.Auth, ErrorOf(await r.CommandAsync(null, secured.Sid, Send("unsigned"))));
        Assert.IsType<SmpCommand.Ok>(await r.CommandAsync(sk, secured.Sid, Send("signed")));
        // The suspension and the suspended queue's messages both survive.
        Assert.Equal(SmpErrorCode.Auth, ErrorOf(await r.CommandAsync(null, suspended.Sid, Send("o2"))));
        Assert.Equal("o1", BodyOf(await r.RequestAsync(rk, suspended.Rid, SmpCommand.SubCommand)));
        Assert.Equal(SmpErrorCode.Auth, ErrorOf(await r.CommandAsync(rk, deleted.Rid, SmpCommand.SubCommand)));

        // The store log was compacted to one CREATE per queue, in the reference's format.
        var lines = File.ReadAllLines(Path.Combine(s.DataDirectory, QueueStore.StoreLogName));
        Assert.Equal(3, lines.Length);
        Assert.Contains($"CREATE rid={B64.EncodeString(open.Rid)} sid={B64.EncodeString(open.Sid)} rk={PublicKeyText.Format(rk)} sk=", lines);
        Assert.Contains($"CREATE rid={B64.EncodeString(secured.Rid)} sid={B64.EncodeString(secured.Sid)} rk={PublicKeyText.Format(rk)} sk={PublicKeyText.Format(sk)}", lines);
        Assert.Equal([$"OFF {B64.EncodeString(suspended.Rid)}"], File.ReadAllLines(Path.Combine(s.DataDirectory, QueueStore.SuspendLogName)));
    }

    [Fact]
    public async Task A_store_log_in_the_reference_format_with_malformed_lines_is_replayed()
    {
        var dir = TestServer.NewDataDirectory();
        var rk = PublicKeyText.Format(TestKeys.Recipient);
        var sk = PublicKeyText.Format(TestKeys.Sender);
        byte[] rid1 = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1], sid1 = [2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2];
        byte[] rid2 = [3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3], sid2 = [4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4];
        File.WriteAllText(Path.Combine(dir, QueueStore.StoreLogName), string.Join("\n",
            $"CREATE rid={B64.EncodeString(rid1)} sid={B64.EncodeString(sid1)} rk={rk} sk=",
            "garbage that is no record",
            $"CREATE rid=!!!! sid={B64.EncodeString(sid2)} rk={rk} sk=",
            $"CREATE rid={B64.EncodeString(rid2)} sid={B64.EncodeString(sid2)} rk={rk} sk=\r",
            $"SECURE {B64.EncodeString(rid1)} {sk}",
            $"DELETE {B64.EncodeString(rid2)}",
            $"SECURE {B64.EncodeString(rid2)} rsa:%%%",
            "") + "CREATE rid=torn");
        var asFound = await File.ReadAllBytesAsync(Path.Combine(dir, QueueStore.StoreLogName));
        // A store brought from elsewhere, without its key: the new key must be asked for.
        await using var s = await TestServer.StartAsync(o => o.AllowNewKey = true, dir);
        Assert.Equal(1, s.Server.Stats.Queues);
        // Three lines are no records (one of them a CREATE: a queue not restored); the last was cut off.
        var r = s.Server.Recovery;
        Assert.Equal((3, 1, 1, 0L), (r.UnreadableRecords, r.TornRecords, r.QueuesNotRestored, r.MessagesNotRestored));
        Assert.Equal(asFound, await File.ReadAllBytesAsync(Assert.Single(r.Files).KeptAsidePath));
        await using var c = await s.ConnectAsync();
        Assert.Equal(SmpErrorCode.Auth, ErrorOf(await c.CommandAsync(null, sid1, Send("unsigned"))));
        Assert.IsType<SmpCommand.Ok>(await c.CommandAsync(TestKeys.Sender, sid1, Send("signed")));
        Assert.Equal("signed", BodyOf(await c.RequestAsync(TestKeys.Recipient, rid1, SmpCommand.SubCommand)));
        Assert.Equal(SmpErrorCode.Auth, ErrorOf(await c.CommandAsync(TestKeys.Recipient, rid2, SmpCommand.SubCommand)));
    }

    [Fact]
    public async Task A_torn_last_journal_record_and_garbage_lines_are_skipped()
    {
        await using var s = await TestServer.StartAsync();
        byte[] rid, sid;
        await using (var c = await s.ConnectAsync())
        {
            (rid, sid) = await c.CreateQueueAsync(TestKeys.Recipient);
            Assert.IsType<SmpCommand.Ok>(await c.CommandAsync(null, sid, Send("kept")));
        }
        await s.Server.StopAsync();
        var journal = Directory.GetFiles(s.DataDirectory, "messages.*.journal").Single();
        var record = JournalFormat.ToBytes(new JournalRecord(JournalOp.Msg, rid, [9, 9, 9, 9, 9, 9], DateTimeOffset.UtcNow, Encoding.ASCII.GetBytes("never acknowledged to anyone")));
        await File.AppendAllTextAsync(journal, "MSG garbage line 00000000\n");
        await using (var f = new FileStream(journal, FileMode.Append)) f.Write(record.AsSpan(0, record.Length - 20));
        await s.RestartAsync();
        Assert.Equal(1, s.Server.Stats.StoredMessages);
        await using var r = await s.ConnectAsync();
        Assert.Equal("kept", BodyOf(await r.RequestAsync(TestKeys.Recipient, rid, SmpCommand.SubCommand)));
    }

    [Fact]
    public async Task Compaction_while_messages_flow_loses_nothing()
    {
        await using var s = await TestServer.StartAsync();
        byte[] rid;
        var expected = new List<string>();
        await using (var c = await s.ConnectAsync())
        {
            (rid, var sid) = await c.CreateQueueAsync(TestKeys.Recipient);
            for (var i = 0; i < 20; i++)
            {
                Assert.IsType<SmpCommand.Ok>(await c.CommandAsync(null, sid, Send($"m{i}")));
                if (i % 7 == 3) s.Server.State.Journal.Compact();
            }
            Assert.Equal("m0", BodyOf(await c.PushAsync()));
            for (var i = 1; i < 5; i++) Assert.Equal($"m{i}", BodyOf(await c.RequestAsync(TestKeys.Recipient, rid, SmpCommand.AckCommand)));
            s.Server.State.Journal.Compact();
            Assert.Equal("m5", BodyOf(await c.RequestAsync(TestKeys.Recipient, rid, SmpCommand.AckCommand)));
            for (var i = 5; i < 20; i++) expected.Add($"m{i}");
        }
        await s.RestartAsync();
        await using var r = await s.ConnectAsync();
        var got = new List<string> { BodyOf(await r.RequestAsync(TestKeys.Recipient, rid, SmpCommand.SubCommand)) };
        while (got.Count < expected.Count) got.Add(BodyOf(await r.RequestAsync(TestKeys.Recipient, rid, SmpCommand.AckCommand)));
        Assert.Equal(expected, got);
        Assert.Single(Directory.GetFiles(s.DataDirectory, "messages.*.journal"));
    }

    [Fact]
    public async Task Messages_expired_while_the_server_was_down_are_not_restored()
    {
        var clock = new ManualClock(DateTimeOffset.UtcNow);
        await using var s = await TestServer.StartAsync(o =>
        {
            o.TimeProvider = clock;
            o.MessageTtl = TimeSpan.FromDays(1);
        });
        await using (var c = await s.ConnectAsync())
        {
            var (_, sid) = await c.CreateQueueAsync(TestKeys.Recipient);
            Assert.IsType<SmpCommand.Ok>(await c.CommandAsync(null, sid, Send("stale")));
        }
        clock.Advance(TimeSpan.FromDays(2));
        await s.RestartAsync();
        Assert.Equal(0, s.Server.Stats.StoredMessages);
    }

    [Fact]
    public async Task The_server_key_is_made_once_and_reused()
    {
        await using var s = await TestServer.StartAsync();
        var address = s.Server.Address;
        Assert.StartsWith("-----BEGIN RSA PRIVATE KEY-----", await File.ReadAllTextAsync(Path.Combine(s.DataDirectory, ServerKeyFile.FileName)));
        await s.RestartAsync();
        Assert.Equal(address.KeyHash, s.Server.Address.KeyHash);
        Assert.Equal(44, Convert.ToBase64String(address.KeyHash!).Length);
    }

    [Fact]
    public async Task A_PKCS8_key_file_is_accepted()
    {
        var dir = TestServer.NewDataDirectory();
        using var rsa = System.Security.Cryptography.RSA.Create(2048);
        await File.WriteAllTextAsync(Path.Combine(dir, ServerKeyFile.FileName), rsa.ExportPkcs8PrivateKeyPem());
        await using var s = await TestServer.StartAsync(dir: dir);
        Assert.Equal(SmpRsa.KeyHash(rsa.ExportSubjectPublicKeyInfo()), s.Server.Address.KeyHash);
        await using var c = await s.ConnectAsync();
        Assert.IsType<SmpCommand.Pong>(await c.CommandAsync(null, [], SmpCommand.PingCommand));
    }

    /// <summary>Runs the real <c>smp server</c>, kills it without warning after its OKs, and reads every message back.</summary>
    [Fact]
    public async Task Every_message_answered_OK_survives_kill_9()
    {
        var dir = TestServer.NewDataDirectory();
        try
        {
            var (process, address) = await StartCliServerAsync(dir, 0);
            var port = address.EffectivePort;
            var sent = new List<string>();
            byte[] rid;
            using (process)
            {
                await using var c = await TestClient.ConnectAsync(address);
                (rid, var sid) = await c.CreateQueueAsync(TestKeys.Recipient);
                for (var i = 0; i < 30; i++)
                {
                    var body = $"message {i}";
                    Assert.IsType<SmpCommand.Ok>(await c.CommandAsync(null, sid, Send(body)));
                    sent.Add(body);
                }
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
            }
            var (again, address2) = await StartCliServerAsync(dir, port);
            using (again)
            {
                Assert.Equal(address.KeyHash, address2.KeyHash);
                await using var r = await TestClient.ConnectAsync(address2);
                var got = new List<string> { BodyOf(await r.RequestAsync(TestKeys.Recipient, rid, SmpCommand.SubCommand)) };
                while (got.Count < sent.Count) got.Add(BodyOf(await r.RequestAsync(TestKeys.Recipient, rid, SmpCommand.AckCommand)));
                Assert.Equal(sent, got);
                again.Kill(entireProcessTree: true);
                await again.WaitForExitAsync();
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static async Task<(Process, SmpServerAddress)> StartCliServerAsync(string dir, int port)
    {
        var dll = typeof(PersistenceTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "SmpCliDll").Value!;
        Assert.True(File.Exists(dll), $"build Smp.Cli first: {dll}");
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { dll, "server", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--data", dir, "--bind", "127.0.0.1", "--log-level", "warning" })
            psi.ArgumentList.Add(a);
        var process = Process.Start(psi)!;
        process.ErrorDataReceived += (_, _) => { };
        process.BeginErrorReadLine();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (true)
        {
            var line = await process.StandardOutput.ReadLineAsync(cts.Token) ?? throw new InvalidOperationException("smp server exited before listening");
            const string prefix = "SMP server listening on ";
            if (line.StartsWith(prefix, StringComparison.Ordinal)) return (process, SmpServerAddress.Parse(line[prefix.Length..]));
        }
    }
}
