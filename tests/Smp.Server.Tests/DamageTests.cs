using System.Security.Cryptography;
using System.Text;
using Smp.Protocol.Crypto;
using Smp.Protocol.Smp;
using Smp.Server.Persistence;

using static Smp.Server.Tests.Replies;

namespace Smp.Server.Tests;

/// <summary>
/// A damaged or cut-off store log or journal (docs/protocol/smp.md §11): what start-up keeps aside, what
/// it reports, and that nothing answered OK is lost when a crash cut off a write.
/// </summary>
public sealed class DamageTests
{
    private static readonly RSA Rk = TestKeys.Recipient;

    private static string StoreLog(TestServer s) => Path.Combine(s.DataDirectory, QueueStore.StoreLogName);

    private static string Journal(TestServer s) => Directory.GetFiles(s.DataDirectory, "messages.*.journal").Single();

    private static async Task<(byte[] Rid, byte[] Sid)> QueueWithAsync(TestServer s, params string[] bodies)
    {
        await using var c = await s.ConnectAsync();
        var q = await c.CreateQueueAsync(Rk);
        foreach (var b in bodies) Assert.IsType<SmpCommand.Ok>(await c.CommandAsync(null, q.Sid, Send(b)));
        return q;
    }

    private static async Task SendAsync(TestServer s, byte[] sid, params string[] bodies)
    {
        await using var c = await s.ConnectAsync();
        foreach (var b in bodies) Assert.IsType<SmpCommand.Ok>(await c.CommandAsync(null, sid, Send(b)));
    }

    /// <summary>Every message waiting in the queue, in order; AUTH when the queue does not exist.</summary>
    private static async Task<List<string>> DrainAsync(TestServer s, byte[] rid)
    {
        await using var c = await s.ConnectAsync();
        var got = new List<string>();
        var t = await c.RequestAsync(Rk, rid, SmpCommand.SubCommand);
        if (ErrorOf(t) is { } e) return [$"ERR {e}"];
        while (t.Command is SmpCommand.Msg)
        {
            got.Add(BodyOf(t));
            t = await c.RequestAsync(Rk, rid, SmpCommand.AckCommand);
        }
        return got;
    }

    private static void AssertKeptAside(SmpServerRecovery r, string path, byte[] asFound, int unreadable, bool torn, long messages)
    {
        var f = Assert.Single(r.Files, f => f.Path == path);
        Assert.Equal(asFound, File.ReadAllBytes(f.KeptAsidePath));
        Assert.StartsWith(path + ".damaged-", f.KeptAsidePath, StringComparison.Ordinal);
        Assert.Equal((unreadable, torn, messages), (f.UnreadableRecords, f.TornLastRecord, f.MessagesNotRestored));
    }

    private static async Task AssertCleanRestartAsync(TestServer s)
    {
        await s.RestartAsync();
        Assert.Same(SmpServerRecovery.Clean, s.Server.Recovery);
    }

    private static byte[] CreateRecord(byte[] rid) =>
        StoreLogFormat.ToBytes(new StoreLogRecord(StoreLogOp.Create, rid, RandomNumberGenerator.GetBytes(12), SmpRsa.ExportPublicKey(Rk)));

    [Fact]
    public async Task A_clean_start_reports_nothing_and_keeps_nothing_aside()
    {
        await using var s = await TestServer.StartAsync();
        await QueueWithAsync(s, "m");
        await AssertCleanRestartAsync(s);
        Assert.Empty(Directory.GetFiles(s.DataDirectory, "*.damaged-*"));
    }

    /// <summary>A NEW whose record a crash cut off was never answered IDS: nothing answered is lost, and the tail is not taken for damage.</summary>
    [Fact]
    public async Task A_store_log_record_cut_off_mid_write_is_torn_and_nothing_answered_is_lost()
    {
        await using var s = await TestServer.StartAsync();
        var a = await QueueWithAsync(s, "a1", "a2", "a3");
        var b = await QueueWithAsync(s, "b1");
        await s.Server.StopAsync();
        var cut = CreateRecord(RandomNumberGenerator.GetBytes(12));
        await using (var f = new FileStream(StoreLog(s), FileMode.Append)) f.Write(cut.AsSpan(0, cut.Length / 2));
        var asFound = await File.ReadAllBytesAsync(StoreLog(s));

        await s.RestartAsync();
        var r = s.Server.Recovery;
        Assert.Equal((0, 1, 0, 0L), (r.UnreadableRecords, r.TornRecords, r.QueuesNotRestored, r.MessagesNotRestored));
        Assert.False(r.FoundDamage);
        AssertKeptAside(r, StoreLog(s), asFound, unreadable: 0, torn: true, messages: 0);
        Assert.Single(r.Files);
        Assert.Equal(["a1", "a2", "a3"], await DrainAsync(s, a.Rid));
        Assert.Equal(["b1"], await DrainAsync(s, b.Rid));
        Assert.Equal(2, File.ReadAllLines(StoreLog(s)).Length);
        await AssertCleanRestartAsync(s);
    }

    /// <summary>A SEND whose record a crash cut off was never answered OK: the messages before it are all there.</summary>
    [Fact]
    public async Task A_journal_record_cut_off_mid_write_is_torn_and_nothing_answered_is_lost()
    {
        await using var s = await TestServer.StartAsync();
        var a = await QueueWithAsync(s, "kept 1", "kept 2");
        await s.Server.StopAsync();
        var journal = Journal(s);
        var cut = JournalFormat.ToBytes(new JournalRecord(JournalOp.Msg, a.Rid, [9, 9, 9, 9, 9, 9], DateTimeOffset.UtcNow, Encoding.ASCII.GetBytes("never answered")));
        await using (var f = new FileStream(journal, FileMode.Append)) f.Write(cut.AsSpan(0, cut.Length - 20));
        var asFound = await File.ReadAllBytesAsync(journal);

        await s.RestartAsync();
        var r = s.Server.Recovery;
        Assert.Equal((0, 1, 0, 0L), (r.UnreadableRecords, r.TornRecords, r.QueuesNotRestored, r.MessagesNotRestored));
        AssertKeptAside(r, journal, asFound, unreadable: 0, torn: true, messages: 0);
        Assert.False(File.Exists(journal));
        Assert.Equal(["kept 1", "kept 2"], await DrainAsync(s, a.Rid));
        await AssertCleanRestartAsync(s);
    }

    [Fact]
    public async Task Garbage_between_store_log_records_is_kept_aside_and_costs_no_queue()
    {
        await using var s = await TestServer.StartAsync();
        var a = await QueueWithAsync(s, "a1");
        var b = await QueueWithAsync(s, "b1", "b2");
        await s.Server.StopAsync();
        var lines = File.ReadAllLines(StoreLog(s)).ToList();
        lines.Insert(1, "\u0001\u0002 not a record at all");
        await File.WriteAllTextAsync(StoreLog(s), string.Join('\n', lines) + "\n");
        var asFound = await File.ReadAllBytesAsync(StoreLog(s));

        await s.RestartAsync();
        var r = s.Server.Recovery;
        Assert.Equal((1, 0, 0, 0L), (r.UnreadableRecords, r.TornRecords, r.QueuesNotRestored, r.MessagesNotRestored));
        Assert.True(r.FoundDamage);
        AssertKeptAside(r, StoreLog(s), asFound, unreadable: 1, torn: false, messages: 0);
        Assert.Equal(["a1"], await DrainAsync(s, a.Rid));
        Assert.Equal(["b1", "b2"], await DrainAsync(s, b.Rid));
        await AssertCleanRestartAsync(s);
    }

    /// <summary>Damage in the middle of an answered record: the queue and its messages are counted, and both files keep their only copy.</summary>
    [Fact]
    public async Task A_damaged_CREATE_record_in_the_middle_is_counted_with_its_messages_and_both_files_are_kept_aside()
    {
        await using var s = await TestServer.StartAsync();
        var a = await QueueWithAsync(s, "a1");
        var b = await QueueWithAsync(s, "b1", "b2");
        var c = await QueueWithAsync(s);
        await s.Server.StopAsync();
        var lines = File.ReadAllLines(StoreLog(s));
        var victim = Array.FindIndex(lines, l => l.Contains(Protocol.Encodings.B64.EncodeString(b.Rid), StringComparison.Ordinal));
        Assert.Equal(1, victim);
        lines[victim] = lines[victim][..(lines[victim].Length / 2)] + "###" + lines[victim][(lines[victim].Length / 2)..];
        await File.WriteAllTextAsync(StoreLog(s), string.Join('\n', lines) + "\n");
        var storeAsFound = await File.ReadAllBytesAsync(StoreLog(s));
        var journal = Journal(s);
        var journalAsFound = await File.ReadAllBytesAsync(journal);

        await s.RestartAsync();
        var r = s.Server.Recovery;
        Assert.Equal((1, 0, 1, 2L), (r.UnreadableRecords, r.TornRecords, r.QueuesNotRestored, r.MessagesNotRestored));
        AssertKeptAside(r, StoreLog(s), storeAsFound, unreadable: 1, torn: false, messages: 0);
        AssertKeptAside(r, journal, journalAsFound, unreadable: 0, torn: false, messages: 2);
        Assert.Equal(["a1"], await DrainAsync(s, a.Rid));
        Assert.Equal(["ERR Auth"], await DrainAsync(s, b.Rid));
        Assert.Empty(await DrainAsync(s, c.Rid));
        await AssertCleanRestartAsync(s);
    }

    /// <summary>
    /// The case of issue 11: the compacted store log's last line cut off, its queue holding 3 messages.
    /// It cannot be told from a cut-off NEW by itself, but the journal names the queue: 1 queue and 3
    /// messages are reported, and the store log and the journal are kept aside before anything is rewritten.
    /// </summary>
    [Fact]
    public async Task A_cut_off_last_line_of_an_answered_queue_is_found_through_its_messages()
    {
        await using var s = await TestServer.StartAsync();
        var q1 = await QueueWithAsync(s);
        var q2 = await QueueWithAsync(s);
        await s.RestartAsync();
        var lines = File.ReadAllLines(StoreLog(s));
        var (victim, other) = lines[^1].Contains(Protocol.Encodings.B64.EncodeString(q1.Rid), StringComparison.Ordinal) ? (q1, q2) : (q2, q1);
        await SendAsync(s, victim.Sid, "v1", "v2", "v3");
        await SendAsync(s, other.Sid, "o1");
        await s.Server.StopAsync();
        var text = await File.ReadAllTextAsync(StoreLog(s));
        await File.WriteAllTextAsync(StoreLog(s), text[..(text.Length - (lines[^1].Length / 2))]);
        var storeAsFound = await File.ReadAllBytesAsync(StoreLog(s));
        var journal = Journal(s);
        var journalAsFound = await File.ReadAllBytesAsync(journal);

        await s.RestartAsync();
        var r = s.Server.Recovery;
        Assert.Equal((0, 1, 1, 3L), (r.UnreadableRecords, r.TornRecords, r.QueuesNotRestored, r.MessagesNotRestored));
        Assert.True(r.FoundDamage);
        AssertKeptAside(r, StoreLog(s), storeAsFound, unreadable: 0, torn: true, messages: 0);
        AssertKeptAside(r, journal, journalAsFound, unreadable: 0, torn: false, messages: 3);
        Assert.Equal(["o1"], await DrainAsync(s, other.Rid));
        await AssertCleanRestartAsync(s);
    }

    [Fact]
    public async Task A_queue_missing_from_the_store_log_is_found_through_its_messages()
    {
        await using var s = await TestServer.StartAsync();
        var a = await QueueWithAsync(s, "a1");
        var b = await QueueWithAsync(s, "b1", "b2", "b3");
        await s.Server.StopAsync();
        var kept = File.ReadAllLines(StoreLog(s)).Where(l => !l.Contains(Protocol.Encodings.B64.EncodeString(b.Rid), StringComparison.Ordinal));
        await File.WriteAllTextAsync(StoreLog(s), string.Join('\n', kept) + "\n");

        await s.RestartAsync();
        var r = s.Server.Recovery;
        Assert.Equal((0, 0, 1, 3L), (r.UnreadableRecords, r.TornRecords, r.QueuesNotRestored, r.MessagesNotRestored));
        Assert.Contains(r.Files, f => f.Path == StoreLog(s));
        Assert.Equal(["a1"], await DrainAsync(s, a.Rid));
        await AssertCleanRestartAsync(s);
    }

    /// <summary>No message names the queue, but its SECURE record in the store log, or its OFF record in the suspension log, does.</summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_queue_missing_from_the_store_log_is_found_through_its_SECURE_or_OFF_record(bool secure)
    {
        await using var s = await TestServer.StartAsync();
        var a = await QueueWithAsync(s);
        await using (var c = await s.ConnectAsync())
        {
            var change = secure ? new SmpCommand.Key(SmpRsa.ExportPublicKey(TestKeys.Sender)) : SmpCommand.OffCommand;
            Assert.IsType<SmpCommand.Ok>(await c.CommandAsync(Rk, a.Rid, change));
        }
        await s.Server.StopAsync();
        var lines = File.ReadAllLines(StoreLog(s));
        Assert.StartsWith("CREATE ", lines[0], StringComparison.Ordinal);
        await File.WriteAllTextAsync(StoreLog(s), string.Concat(lines.Skip(1).Select(l => l + "\n")));
        var naming = secure ? StoreLog(s) : Path.Combine(s.DataDirectory, QueueStore.SuspendLogName);
        var asFound = await File.ReadAllBytesAsync(naming);

        await s.RestartAsync();
        var r = s.Server.Recovery;
        Assert.Equal((0, 0, 1, 0L), (r.UnreadableRecords, r.TornRecords, r.QueuesNotRestored, r.MessagesNotRestored));
        Assert.Contains(r.Files, f => f.Path == StoreLog(s));
        AssertKeptAside(r, naming, asFound, unreadable: 0, torn: false, messages: 0);
        await AssertCleanRestartAsync(s);
    }

    [Fact]
    public async Task Garbage_and_a_damaged_record_in_the_journal_are_counted_and_kept_aside()
    {
        await using var s = await TestServer.StartAsync();
        var a = await QueueWithAsync(s, "m1", "m2", "m3");
        await s.Server.StopAsync();
        var journal = Journal(s);
        var lines = File.ReadAllLines(journal).ToList();
        Assert.Equal(3, lines.Count);
        // m2's body altered: its check value no longer matches, so it is not read back as some other message.
        var body = Protocol.Encodings.B64.EncodeString("m2"u8.ToArray());
        lines[1] = lines[1].Replace(" " + body + " ", " " + Protocol.Encodings.B64.EncodeString("m9"u8.ToArray()) + " ", StringComparison.Ordinal);
        lines.Insert(2, "ACK !!!! 00000000");
        await File.WriteAllTextAsync(journal, string.Join('\n', lines) + "\n");
        var asFound = await File.ReadAllBytesAsync(journal);

        await s.RestartAsync();
        var r = s.Server.Recovery;
        Assert.Equal((2, 0, 0, 1L), (r.UnreadableRecords, r.TornRecords, r.QueuesNotRestored, r.MessagesNotRestored));
        AssertKeptAside(r, journal, asFound, unreadable: 2, torn: false, messages: 1);
        Assert.Equal(["m1", "m3"], await DrainAsync(s, a.Rid));
        await AssertCleanRestartAsync(s);
    }

    [Fact]
    public async Task Messages_left_in_the_journal_by_a_deleted_queue_are_no_damage()
    {
        await using var s = await TestServer.StartAsync();
        var gone = await QueueWithAsync(s, "d1", "d2");
        await using (var c = await s.ConnectAsync())
            Assert.IsType<SmpCommand.Ok>(await c.CommandAsync(Rk, gone.Rid, SmpCommand.DelCommand));
        await AssertCleanRestartAsync(s);
        Assert.Equal(["ERR Auth"], await DrainAsync(s, gone.Rid));
    }

    /// <summary>
    /// Start-up compacts the journal before the store log: the store log's DELETE records are what tell a
    /// deleted queue's leftover messages from a lost queue's, so they must outlive those messages even
    /// when start-up stops between the two compactions.
    /// </summary>
    [Fact]
    public async Task A_start_that_fails_while_compacting_leaves_nothing_that_looks_like_damage()
    {
        await using var s = await TestServer.StartAsync();
        var kept = await QueueWithAsync(s, "k1");
        var gone = await QueueWithAsync(s, "d1");
        await using (var c = await s.ConnectAsync())
            Assert.IsType<SmpCommand.Ok>(await c.CommandAsync(Rk, gone.Rid, SmpCommand.DelCommand));
        await s.Server.StopAsync();
        // The next generation's snapshot cannot be written: start-up fails in the journal's compaction.
        var blocker = Directory.CreateDirectory(Path.Combine(s.DataDirectory, "messages.2.snapshot.tmp"));
        await Assert.ThrowsAnyAsync<Exception>(() => SmpServer.StartAsync(s.Options));
        blocker.Delete();

        await AssertCleanRestartAsync(s);
        Assert.Equal(["k1"], await DrainAsync(s, kept.Rid));
        Assert.Equal(["ERR Auth"], await DrainAsync(s, gone.Rid));
    }
}
