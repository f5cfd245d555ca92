using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;
using Smp.Protocol.Encodings;
using Smp.Protocol.Smp;

namespace Smp.Server.Persistence;

internal enum JournalOp : byte
{
    Msg = 1,
    Ack = 2,
}

/// <summary>One line of the message journal or a snapshot.</summary>
internal readonly record struct JournalRecord(JournalOp Op, byte[] RecipientId, byte[] MsgId, DateTimeOffset Timestamp = default, byte[]? Body = null);

/// <summary>
/// Message journal lines (docs/protocol/smp.md §9). Each line carries a check value so that a torn or
/// garbled record is recognised and skipped rather than misread.
/// <code>
/// record = ( "MSG" SP b64(rid) SP b64(msgId) SP timestamp SP b64(body)
///          / "ACK" SP b64(rid) SP b64(msgId) ) SP check LF
/// check  = 8 lowercase hex digits: the first 4 bytes of SHA-256 over the record up to, not
///          including, the SP before the check
/// timestamp = YYYY-MM-DDTHH:MM:SS.mmmZ (UTC, as in MSG)
/// </code>
/// </summary>
internal static class JournalFormat
{
    private static ReadOnlySpan<byte> MsgKw => "MSG "u8;
    private static ReadOnlySpan<byte> AckKw => "ACK "u8;
    private const int CheckLength = 8;

    public static void Write(ArrayBufferWriter<byte> w, in JournalRecord r)
    {
        var start = w.WrittenCount;
        w.Write(r.Op == JournalOp.Msg ? MsgKw : AckKw);
        B64.Write(w, r.RecipientId);
        w.Write(" "u8);
        B64.Write(w, r.MsgId);
        if (r.Op == JournalOp.Msg)
        {
            w.Write(" "u8);
            SmpCodec.WriteTimestamp(w, r.Timestamp);
            w.Write(" "u8);
            B64.Write(w, r.Body);
        }
        Span<byte> check = stackalloc byte[CheckLength];
        Check(w.WrittenSpan[start..], check);
        w.Write(" "u8);
        w.Write(check);
        w.Write("\n"u8);
    }

    public static byte[] ToBytes(in JournalRecord r)
    {
        var w = new ArrayBufferWriter<byte>(r.Body is null ? 64 : (r.Body.Length * 4 / 3) + 96);
        Write(w, r);
        return w.WrittenSpan.ToArray();
    }

    /// <summary>Parses one line without its LF; false when malformed or its check value does not match.</summary>
    public static bool TryParse(ReadOnlySpan<byte> line, out JournalRecord record)
    {
        record = default;
        if (line.Length < CheckLength + 2 || line[^(CheckLength + 1)] != (byte)' ') return false;
        var content = line[..^(CheckLength + 1)];
        Span<byte> check = stackalloc byte[CheckLength];
        Check(content, check);
        if (!check.SequenceEqual(line[^CheckLength..])) return false;
        var op = content.StartsWith(MsgKw) ? JournalOp.Msg : content.StartsWith(AckKw) ? JournalOp.Ack : (JournalOp)0;
        if (op == 0) return false;
        var rest = content[4..];
        if (!TakeWord(ref rest, out var rid) || !B64.TryDecode(rid, out var ridBytes) || ridBytes.Length == 0) return false;
        if (op == JournalOp.Ack)
        {
            if (!B64.TryDecode(rest, out var ackId) || ackId.Length == 0) return false;
            record = new JournalRecord(op, ridBytes, ackId);
            return true;
        }
        if (!TakeWord(ref rest, out var id) || !B64.TryDecode(id, out var idBytes) || idBytes.Length == 0) return false;
        if (!TakeWord(ref rest, out var tsText)) return false;
        if (!DateTimeOffset.TryParseExact(System.Text.Encoding.ASCII.GetString(tsText), SmpCodec.TimestampFormat, CultureInfo.InvariantCulture,
                DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var ts)) return false;
        if (!B64.TryDecode(rest, out var body)) return false;
        record = new JournalRecord(op, ridBytes, idBytes, ts, body);
        return true;
    }

    /// <summary>For a line that did not parse: whether it starts as a MSG record, so that start-up counts a message lost.</summary>
    public static bool LooksLikeMessage(ReadOnlySpan<byte> line) => line.StartsWith(MsgKw);

    private static void Check(ReadOnlySpan<byte> content, Span<byte> hex)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(content, hash);
        const string digits = "0123456789abcdef";
        for (var i = 0; i < CheckLength / 2; i++)
        {
            hex[2 * i] = (byte)digits[hash[i] >> 4];
            hex[(2 * i) + 1] = (byte)digits[hash[i] & 0xf];
        }
    }

    private static bool TakeWord(ref ReadOnlySpan<byte> text, out ReadOnlySpan<byte> word)
    {
        var i = text.IndexOf((byte)' ');
        if (i < 0)
        {
            word = default;
            return false;
        }
        word = text[..i];
        text = text[(i + 1)..];
        return true;
    }
}
