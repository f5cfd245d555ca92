using System.Buffers;
using System.Security.Cryptography;
using Smp.Protocol.Crypto;

namespace Smp.Protocol.Encodings;

/// <summary>Public keys in text: <c>rsa:</c> b64(DER SubjectPublicKeyInfo) (smp-wire.md §6).</summary>
public static class PublicKeyText
{
    public static ReadOnlySpan<byte> Prefix => "rsa:"u8;

    /// <summary>A 4096-bit SPKI is about 550 bytes; its b64 with prefix stays well below this.</summary>
    public const int MaxTextLength = 1200;

    public static string Format(ReadOnlySpan<byte> spki) => "rsa:" + Convert.ToBase64String(spki);

    public static string Format(RSA key) => Format(SmpRsa.ExportPublicKey(key));

    public static void Write(IBufferWriter<byte> writer, ReadOnlySpan<byte> spki)
    {
        writer.Write(Prefix);
        B64.Write(writer, spki);
    }

    /// <summary>Parses the text form to DER bytes without checking that they are a valid key.</summary>
    public static bool TryParseDer(ReadOnlySpan<byte> text, out byte[] spki)
    {
        spki = [];
        if (text.Length > MaxTextLength || !text.StartsWith(Prefix)) return false;
        return B64.TryDecode(text[Prefix.Length..], out spki) && spki.Length > 0;
    }

    public static bool TryParseDer(string text, out byte[] spki) => TryParseDer(System.Text.Encoding.ASCII.GetBytes(text), out spki);
}
