using System.Buffers;
using System.Buffers.Text;

namespace Smp.Protocol.Encodings;

/// <summary>Standard base64 with padding (RFC 4648 §4) over ASCII bytes, strict: no whitespace, no missing padding.</summary>
public static class B64
{
    public static int EncodedLength(int bytes) => Base64.GetMaxEncodedToUtf8Length(bytes);

    public static byte[] Encode(ReadOnlySpan<byte> data)
    {
        var output = new byte[EncodedLength(data.Length)];
        Base64.EncodeToUtf8(data, output, out _, out _);
        return output;
    }

    public static string EncodeString(ReadOnlySpan<byte> data) => Convert.ToBase64String(data);

    public static void Write(IBufferWriter<byte> writer, ReadOnlySpan<byte> data)
    {
        var len = EncodedLength(data.Length);
        var span = writer.GetSpan(len);
        Base64.EncodeToUtf8(data, span, out _, out var written);
        writer.Advance(written);
    }

    /// <summary>Decodes ASCII base64; false on any invalid character, bad length or bad padding.</summary>
    public static bool TryDecode(ReadOnlySpan<byte> text, out byte[] data)
    {
        data = [];
        if (text.Length % 4 != 0) return false;
        if (text.IndexOfAny((byte)' ', (byte)'\t', (byte)'\r') >= 0 || text.Contains((byte)'\n')) return false;
        var buffer = new byte[Base64.GetMaxDecodedFromUtf8Length(text.Length)];
        if (Base64.DecodeFromUtf8(text, buffer, out var consumed, out var written) != OperationStatus.Done || consumed != text.Length)
            return false;
        data = written == buffer.Length ? buffer : buffer.AsSpan(0, written).ToArray();
        return true;
    }

    public static bool TryDecode(string text, out byte[] data) => TryDecode(System.Text.Encoding.ASCII.GetBytes(text), out data);
}
