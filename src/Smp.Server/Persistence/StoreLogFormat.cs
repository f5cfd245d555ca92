using System.Buffers;
using Smp.Protocol.Encodings;

namespace Smp.Server.Persistence;

internal enum StoreLogOp : byte
{
    Create = 1,
    Secure = 2,
    Delete = 3,
    Off = 4,
}

/// <summary>One line of the store log (or of the suspension log, which holds only <see cref="StoreLogOp.Off"/>).</summary>
internal readonly record struct StoreLogRecord(StoreLogOp Op, byte[] RecipientId, byte[]? SenderId = null, byte[]? RecipientKey = null, byte[]? SenderKey = null);

/// <summary>
/// The queue store log, line for line in the reference's format (docs/protocol/smp.md §8), plus our OFF
/// record, which lives in a file of its own so that the store log stays readable by the reference.
/// <code>
/// record = "CREATE rid=" b64 " sid=" b64 " rk=" key " sk=" [key]
///        / "SECURE " b64 SP key
///        / "DELETE " b64
///        / "OFF " b64                      ; suspension log only
/// key    = "rsa:" b64(DER SubjectPublicKeyInfo)
/// </code>
/// Lines end in LF; a CR before it is tolerated on reading.
/// </summary>
internal static class StoreLogFormat
{
    private static ReadOnlySpan<byte> CreateKw => "CREATE rid="u8;
    private static ReadOnlySpan<byte> SidKw => " sid="u8;
    private static ReadOnlySpan<byte> RkKw => " rk="u8;
    private static ReadOnlySpan<byte> SkKw => " sk="u8;
    private static ReadOnlySpan<byte> SecureKw => "SECURE "u8;
    private static ReadOnlySpan<byte> DeleteKw => "DELETE "u8;
    private static ReadOnlySpan<byte> OffKw => "OFF "u8;

    public static void Write(IBufferWriter<byte> w, in StoreLogRecord r)
    {
        switch (r.Op)
        {
            case StoreLogOp.Create:
                w.Write(CreateKw);
                B64.Write(w, r.RecipientId);
                w.Write(SidKw);
                B64.Write(w, r.SenderId);
                w.Write(RkKw);
                PublicKeyText.Write(w, r.RecipientKey);
                w.Write(SkKw);
                if (r.SenderKey is not null) PublicKeyText.Write(w, r.SenderKey);
                break;
            case StoreLogOp.Secure:
                w.Write(SecureKw);
                B64.Write(w, r.RecipientId);
                w.Write(" "u8);
                PublicKeyText.Write(w, r.SenderKey);
                break;
            case StoreLogOp.Delete:
                w.Write(DeleteKw);
                B64.Write(w, r.RecipientId);
                break;
            case StoreLogOp.Off:
                w.Write(OffKw);
                B64.Write(w, r.RecipientId);
                break;
            default:
                throw new ArgumentException("unknown store log op", nameof(r));
        }
        w.Write("\n"u8);
    }

    public static byte[] ToBytes(in StoreLogRecord r)
    {
        var w = new ArrayBufferWriter<byte>(1024);
        Write(w, r);
        return w.WrittenSpan.ToArray();
    }

    /// <summary>Parses one line (without its LF); false for anything malformed.</summary>
    public static bool TryParse(ReadOnlySpan<byte> line, out StoreLogRecord record)
    {
        record = default;
        if (line.EndsWith("\r"u8)) line = line[..^1];
        if (line.StartsWith(CreateKw))
        {
            var rest = line[CreateKw.Length..];
            if (!TakeUntil(ref rest, SidKw, out var rid) || !B64.TryDecode(rid, out var ridBytes) || ridBytes.Length == 0) return false;
            if (!TakeUntil(ref rest, RkKw, out var sid) || !B64.TryDecode(sid, out var sidBytes) || sidBytes.Length == 0) return false;
            if (!TakeUntil(ref rest, SkKw, out var rk) || !PublicKeyText.TryParseDer(rk, out var rkBytes)) return false;
            byte[]? skBytes = null;
            if (!rest.IsEmpty && !PublicKeyText.TryParseDer(rest, out skBytes)) return false;
            record = new StoreLogRecord(StoreLogOp.Create, ridBytes, sidBytes, rkBytes, skBytes);
            return true;
        }
        if (line.StartsWith(SecureKw))
        {
            var rest = line[SecureKw.Length..];
            if (!TakeUntil(ref rest, " "u8, out var rid) || !B64.TryDecode(rid, out var ridBytes) || ridBytes.Length == 0) return false;
            if (!PublicKeyText.TryParseDer(rest, out var sk)) return false;
            record = new StoreLogRecord(StoreLogOp.Secure, ridBytes, SenderKey: sk);
            return true;
        }
        if (line.StartsWith(DeleteKw)) return TryParseIdOnly(line[DeleteKw.Length..], StoreLogOp.Delete, out record);
        if (line.StartsWith(OffKw)) return TryParseIdOnly(line[OffKw.Length..], StoreLogOp.Off, out record);
        return false;
    }

    /// <summary>
    /// For a line that did not parse: whether it starts as a CREATE, and its RID when that part is still
    /// readable, so that start-up can count the queue as lost.
    /// </summary>
    public static bool LooksLikeCreate(ReadOnlySpan<byte> line, out byte[]? recipientId)
    {
        recipientId = null;
        if (!line.StartsWith(CreateKw)) return false;
        var rest = line[CreateKw.Length..];
        if (TakeUntil(ref rest, SidKw, out var rid) && B64.TryDecode(rid, out var ridBytes) && ridBytes.Length > 0) recipientId = ridBytes;
        return true;
    }

    private static bool TryParseIdOnly(ReadOnlySpan<byte> text, StoreLogOp op, out StoreLogRecord record)
    {
        record = default;
        if (!B64.TryDecode(text, out var rid) || rid.Length == 0) return false;
        record = new StoreLogRecord(op, rid);
        return true;
    }

    private static bool TakeUntil(ref ReadOnlySpan<byte> text, ReadOnlySpan<byte> separator, out ReadOnlySpan<byte> value)
    {
        var i = text.IndexOf(separator);
        if (i < 0)
        {
            value = default;
            return false;
        }
        value = text[..i];
        text = text[(i + separator.Length)..];
        return true;
    }
}
