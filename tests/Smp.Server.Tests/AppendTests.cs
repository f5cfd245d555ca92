using System.Text;
using Smp.Protocol.Smp;
using Smp.Server.Persistence;

using static Smp.Server.Tests.Replies;

namespace Smp.Server.Tests;

/// <summary>
/// Records are answered only once they are whole in the file, and a write that fails part-way leaves
/// nothing behind for the next record to be glued onto (docs/protocol/smp.md §11).
/// </summary>
public sealed class AppendTests
{
    private static byte[] Line(string text) => Encoding.ASCII.GetBytes(text + "\n");

    private static FailingStream OpenFailing(string path) =>
        new(new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read, 0));

    [Fact]
    public void A_write_that_fails_part_way_is_cut_back_off_the_file()
    {
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllBytes(path, Line("one"));
            var stream = OpenFailing(path);
            using (var file = new AppendOnlyFile(stream, path, fsync: false))
            {
                stream.FailAfterBytes = 5;
                Assert.Throws<IOException>(() => file.Append(Line("two two two")));
                Assert.Equal(Line("one"), ReadShared(path));
                file.Append(Line("three"));
                Assert.Equal(4 + 6, file.Length);
            }
            Assert.Equal([.. Line("one"), .. Line("three")], File.ReadAllBytes(path));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void A_file_whose_failed_write_cannot_be_undone_refuses_every_later_record()
    {
        var path = Path.GetTempFileName();
        try
        {
            var stream = OpenFailing(path);
            using (var file = new AppendOnlyFile(stream, path, fsync: false))
            {
                stream.FailAfterBytes = 3;
                stream.FailSetLength = true;
                Assert.Throws<IOException>(() => file.Append(Line("first")));
                stream.FailSetLength = false;
                var e = Assert.Throws<IOException>(() => file.Append(Line("second")));
                Assert.Contains(path, e.Message, StringComparison.Ordinal);
            }
            Assert.Equal("fir"u8.ToArray(), File.ReadAllBytes(path));
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>A NEW or SEND whose record did not reach the file is refused, not answered, and leaves a log that replays clean.</summary>
    [Fact]
    public async Task A_command_whose_record_could_not_be_written_is_refused_and_leaves_no_trace()
    {
        await using var s = await TestServer.StartAsync();
        var storeLog = OpenFailing(Path.Combine(s.DataDirectory, QueueStore.StoreLogName));
        s.Server.State.Store.ReopenStoreLogForTests(_ => storeLog);
        FailingStream? journal = null;
        s.Server.State.Journal.ReopenForTests(path => journal = OpenFailing(path));
        byte[] rid;
        await using (var c = await s.ConnectAsync())
        {
            storeLog.FailAfterBytes = 20;
            var refused = await c.CommandAsync(TestKeys.Recipient, [], new SmpCommand.New(Protocol.Crypto.SmpRsa.ExportPublicKey(TestKeys.Recipient)));
            Assert.Equal(SmpErrorCode.Internal, ErrorOf(refused));
            Assert.Equal(0, s.Server.Stats.Queues);
            (rid, var sid) = await c.CreateQueueAsync(TestKeys.Recipient);
            journal!.FailAfterBytes = 30;
            Assert.Equal(SmpErrorCode.Internal, ErrorOf(await c.CommandAsync(null, sid, Send("refused"))));
            Assert.IsType<SmpCommand.Ok>(await c.CommandAsync(null, sid, Send("accepted")));
        }
        await s.RestartAsync();
        Assert.Same(SmpServerRecovery.Clean, s.Server.Recovery);
        Assert.Equal(1, s.Server.Stats.Queues);
        await using var r = await s.ConnectAsync();
        Assert.Equal("accepted", BodyOf(await r.RequestAsync(TestKeys.Recipient, rid, SmpCommand.SubCommand)));
        Assert.IsType<SmpCommand.Ok>(await r.CommandAsync(TestKeys.Recipient, rid, SmpCommand.AckCommand));
    }

    private static byte[] ReadShared(string path)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        var m = new MemoryStream();
        f.CopyTo(m);
        return m.ToArray();
    }
}

/// <summary>A file stream that can be told to fail: part of the next write reaches the file, then an IOException, as with a full disk.</summary>
internal sealed class FailingStream(Stream inner) : Stream
{
    public int? FailAfterBytes { get; set; }
    public bool FailSetLength { get; set; }

    public override bool CanRead => false;
    public override bool CanSeek => true;
    public override bool CanWrite => true;
    public override long Length => inner.Length;

    public override long Position
    {
        get => inner.Position;
        set => inner.Position = value;
    }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (FailAfterBytes is { } n)
        {
            FailAfterBytes = null;
            inner.Write(buffer[..Math.Min(n, buffer.Length)]);
            inner.Flush();
            throw new IOException("No space left on device (test)");
        }
        inner.Write(buffer);
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void SetLength(long value)
    {
        if (FailSetLength) throw new IOException("Input/output error (test)");
        inner.SetLength(value);
    }

    public override void Flush() => inner.Flush();
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => inner.Seek(offset, origin);

    protected override void Dispose(bool disposing)
    {
        if (disposing) inner.Dispose();
        base.Dispose(disposing);
    }
}
