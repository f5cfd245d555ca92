using System.Buffers;
using System.Buffers.Text;
using System.Globalization;
using System.Text;
using Smp.Protocol.Encodings;
using Smp.Protocol.Smp;

namespace Smp.Protocol.Agent;

/// <summary>Small writers shared by the agent codecs. Everything on these wires is ASCII.</summary>
internal static class WireText
{
    public static void Sp(IBufferWriter<byte> w) => w.Write(" "u8);

    public static void Lf(IBufferWriter<byte> w) => w.Write("\n"u8);

    public static void WriteAscii(IBufferWriter<byte> w, string s)
    {
        var span = w.GetSpan(s.Length);
        for (var i = 0; i < s.Length; i++) span[i] = (byte)s[i];
        w.Advance(s.Length);
    }

    public static void WriteDecimal(IBufferWriter<byte> w, long value)
    {
        var span = w.GetSpan(20);
        Utf8Formatter.TryFormat(value, span, out var n);
        w.Advance(n);
    }

    public static void WriteTimestamp(IBufferWriter<byte> w, DateTimeOffset ts) => WriteAscii(w, SmpCodec.FormatTimestamp(ts));

    /// <summary><c>size LF bytes</c>: the sized body form used in envelopes and agent events.</summary>
    public static void WriteSizedBody(IBufferWriter<byte> w, ReadOnlySpan<byte> body)
    {
        WriteDecimal(w, body.Length);
        Lf(w);
        w.Write(body);
    }

    public static void WriteQueueInfo(IBufferWriter<byte> w, SmpQueueInfo info) => WriteAscii(w, info.ToString());

    private static readonly string[] TimestampFormats = ["yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'"];

    /// <summary>
    /// Reads <c>yyyy-MM-ddTHH:mm:ss[.fraction]Z</c>. We always write three fraction digits; on input any
    /// count from none to seven is taken, as the reference's ISO 8601 reader does.
    /// </summary>
    public static bool TryParseTimestamp(ReadOnlySpan<byte> text, out DateTimeOffset ts)
    {
        ts = default;
        if (text.Length is < 20 or > 28 || text[^2] == (byte)'.') return false;
        Span<char> chars = stackalloc char[text.Length];
        for (var i = 0; i < text.Length; i++) chars[i] = (char)text[i];
        return DateTimeOffset.TryParseExact(chars, TimestampFormats, CultureInfo.InvariantCulture,
            DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out ts);
    }

    public static string Ascii(ReadOnlySpan<byte> bytes) => Encoding.ASCII.GetString(bytes);
}
