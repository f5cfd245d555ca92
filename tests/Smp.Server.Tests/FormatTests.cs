using System.Text;
using Smp.Server.Persistence;

namespace Smp.Server.Tests;

/// <summary>Fixed vectors for the store log and message journal line formats.</summary>
public sealed class FormatTests
{
    private static readonly byte[] Rid = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
    private static readonly byte[] Sid = [12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1];
    private static readonly byte[] Rk = [0x30, 0x03, 0x02, 0x01, 0x01];
    private static readonly byte[] Sk = [0x30, 0x03, 0x02, 0x01, 0x02];

    private static string Text(StoreLogRecord r) => Encoding.ASCII.GetString(StoreLogFormat.ToBytes(r));

    [Fact]
    public void Store_log_records_are_written_as_the_reference_writes_them()
    {
        Assert.Equal("CREATE rid=AQIDBAUGBwgJCgsM sid=DAsKCQgHBgUEAwIB rk=rsa:MAMCAQE= sk=\n", Text(new(StoreLogOp.Create, Rid, Sid, Rk)));
        Assert.Equal("CREATE rid=AQIDBAUGBwgJCgsM sid=DAsKCQgHBgUEAwIB rk=rsa:MAMCAQE= sk=rsa:MAMCAQI=\n", Text(new(StoreLogOp.Create, Rid, Sid, Rk, Sk)));
        Assert.Equal("SECURE AQIDBAUGBwgJCgsM rsa:MAMCAQI=\n", Text(new(StoreLogOp.Secure, Rid, SenderKey: Sk)));
        Assert.Equal("DELETE AQIDBAUGBwgJCgsM\n", Text(new(StoreLogOp.Delete, Rid)));
        Assert.Equal("OFF AQIDBAUGBwgJCgsM\n", Text(new(StoreLogOp.Off, Rid)));
    }

    [Theory]
    [InlineData("CREATE rid=AQIDBAUGBwgJCgsM sid=DAsKCQgHBgUEAwIB rk=rsa:MAMCAQE= sk=")]
    [InlineData("CREATE rid=AQIDBAUGBwgJCgsM sid=DAsKCQgHBgUEAwIB rk=rsa:MAMCAQE= sk=rsa:MAMCAQI=")]
    [InlineData("SECURE AQIDBAUGBwgJCgsM rsa:MAMCAQI=")]
    [InlineData("DELETE AQIDBAUGBwgJCgsM")]
    [InlineData("OFF AQIDBAUGBwgJCgsM")]
    public void Store_log_records_round_trip(string line)
    {
        Assert.True(StoreLogFormat.TryParse(Encoding.ASCII.GetBytes(line), out var r));
        Assert.Equal(line + "\n", Text(r));
        Assert.True(StoreLogFormat.TryParse(Encoding.ASCII.GetBytes(line + "\r"), out _));
    }

    [Theory]
    [InlineData("")]
    [InlineData("CREATE")]
    [InlineData("CREATE rid= sid=DAsKCQgHBgUEAwIB rk=rsa:MAMCAQE= sk=")]
    [InlineData("CREATE rid=AQIDBAUGBwgJCgsM sid=DAsKCQgHBgUEAwIB rk=MAMCAQE= sk=")]
    [InlineData("CREATE rid=AQIDBAUGBwgJCgsM sid=DAsKCQgHBgUEAwIB rk=rsa:MAMCAQE=")]
    [InlineData("CREATE rid=AQIDBAUGBwgJCgsM sid=DAsKCQgHBgUEAwIB rk=rsa:MAMCAQE= sk=rsa:")]
    [InlineData("SECURE AQIDBAUGBwgJCgsM")]
    [InlineData("DELETE AQIDBAUGBwgJCgs")]
    [InlineData("delete AQIDBAUGBwgJCgsM")]
    [InlineData("SUSPEND AQIDBAUGBwgJCgsM")]
    public void Malformed_store_log_lines_are_refused(string line) =>
        Assert.False(StoreLogFormat.TryParse(Encoding.ASCII.GetBytes(line), out _));

    [Fact]
    public void Journal_records_carry_a_check_value_over_their_content()
    {
        var ts = new DateTimeOffset(2021, 5, 15, 16, 1, 53, 123, TimeSpan.Zero);
        var msg = Encoding.ASCII.GetString(JournalFormat.ToBytes(new JournalRecord(JournalOp.Msg, Rid, [1, 2, 3, 4, 5, 6], ts, "hello"u8.ToArray())));
        var content = "MSG AQIDBAUGBwgJCgsM AQIDBAUG 2021-05-15T16:01:53.123Z aGVsbG8=";
        var check = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.ASCII.GetBytes(content)))[..8];
        Assert.Equal($"{content} {check}\n", msg);
        var ack = Encoding.ASCII.GetString(JournalFormat.ToBytes(new JournalRecord(JournalOp.Ack, Rid, [1, 2, 3, 4, 5, 6])));
        Assert.StartsWith("ACK AQIDBAUGBwgJCgsM AQIDBAUG ", ack);

        Assert.True(JournalFormat.TryParse(Encoding.ASCII.GetBytes(msg.TrimEnd('\n')), out var r));
        Assert.Equal(JournalOp.Msg, r.Op);
        Assert.Equal(ts, r.Timestamp);
        Assert.Equal("hello"u8.ToArray(), r.Body);
        Assert.True(JournalFormat.TryParse(Encoding.ASCII.GetBytes(ack.TrimEnd('\n')), out var a));
        Assert.Equal(JournalOp.Ack, a.Op);
    }

    [Fact]
    public void Journal_lines_cut_short_or_altered_are_refused()
    {
        var line = Encoding.ASCII.GetString(JournalFormat.ToBytes(new JournalRecord(JournalOp.Msg, Rid, [1, 2, 3, 4, 5, 6], DateTimeOffset.UnixEpoch, new byte[300]))).TrimEnd('\n');
        for (var cut = 0; cut < line.Length; cut += 7)
            Assert.False(JournalFormat.TryParse(Encoding.ASCII.GetBytes(line[..cut]), out _));
        var altered = line.Replace("AQIDBAUG", "AQIDBAUH", StringComparison.Ordinal);
        Assert.False(JournalFormat.TryParse(Encoding.ASCII.GetBytes(altered), out _));
    }

    [Fact]
    public void Line_reader_reports_a_last_line_without_LF_as_torn()
    {
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, "one\ntwo\nthr");
            var seen = new List<(string, LineEnd)>();
            LineFiles.ForEachLine(path, (line, _, end) => seen.Add((Encoding.ASCII.GetString(line), end)));
            Assert.Equal([("one", LineEnd.Lf), ("two", LineEnd.Lf), ("thr", LineEnd.Eof)], seen);
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>An over-long line must be reported as such, not passed as an empty line that a replay would skip unseen.</summary>
    [Fact]
    public void Line_reader_reports_an_over_long_line_with_its_number()
    {
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, "one\n" + new string('x', LineFiles.MaxLineLength + 100) + "\nthree\n" + new string('y', LineFiles.MaxLineLength * 5));
            var seen = new List<(string, long, LineEnd)>();
            LineFiles.ForEachLine(path, (line, number, end) => seen.Add((Encoding.ASCII.GetString(line), number, end)));
            Assert.Equal([("one", 1, LineEnd.Lf), ("", 2, LineEnd.TooLong), ("three", 3, LineEnd.Lf), ("", 4, LineEnd.TooLong)], seen);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
