using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Modes;
using Org.BouncyCastle.Crypto.Parameters;

namespace Smp.Protocol.Crypto;

/// <summary>
/// AES-256-GCM with the 16-byte IVs SMP uses (smp-wire.md §2). With an IV that is not 12 bytes
/// GCM derives J0 by GHASH over the IV (NIST SP 800-38D), which the BCL's AesGcm cannot do.
/// No associated data; the tag is 16 bytes and travels separately from the ciphertext.
/// </summary>
public static class AesGcm16
{
    public const int KeySize = 32;
    public const int IvSize = 16;
    public const int TagSize = 16;

    /// <summary>Encrypts <paramref name="plaintext"/> into <paramref name="ciphertext"/> (same length) and writes the tag.</summary>
    public static void Encrypt(ReadOnlySpan<byte> key, ReadOnlySpan<byte> iv, ReadOnlySpan<byte> plaintext, Span<byte> ciphertext, Span<byte> tag)
    {
        if (ciphertext.Length != plaintext.Length) throw new ArgumentException("ciphertext length must equal plaintext length", nameof(ciphertext));
        if (tag.Length != TagSize) throw new ArgumentException("tag must be 16 bytes", nameof(tag));
        var gcm = Create(true, key, iv);
        var output = new byte[plaintext.Length + TagSize];
        var n = gcm.ProcessBytes(plaintext, output);
        n += gcm.DoFinal(output.AsSpan(n));
        output.AsSpan(0, plaintext.Length).CopyTo(ciphertext);
        output.AsSpan(plaintext.Length, TagSize).CopyTo(tag);
    }

    /// <summary>Decrypts and authenticates; returns false (and clears the output) when the tag does not match.</summary>
    public static bool TryDecrypt(ReadOnlySpan<byte> key, ReadOnlySpan<byte> iv, ReadOnlySpan<byte> ciphertext, ReadOnlySpan<byte> tag, Span<byte> plaintext)
    {
        if (plaintext.Length != ciphertext.Length) throw new ArgumentException("plaintext length must equal ciphertext length", nameof(plaintext));
        if (tag.Length != TagSize || key.Length != KeySize || iv.Length != IvSize) return false;
        var gcm = Create(false, key, iv);
        var input = new byte[ciphertext.Length + TagSize];
        ciphertext.CopyTo(input);
        tag.CopyTo(input.AsSpan(ciphertext.Length));
        var output = new byte[ciphertext.Length];
        try
        {
            var n = gcm.ProcessBytes(input, output);
            gcm.DoFinal(output.AsSpan(n));
        }
        catch (InvalidCipherTextException)
        {
            plaintext.Clear();
            return false;
        }
        output.CopyTo(plaintext);
        return true;
    }

    private static GcmBlockCipher Create(bool forEncryption, ReadOnlySpan<byte> key, ReadOnlySpan<byte> iv)
    {
        if (key.Length != KeySize) throw new ArgumentException("AES-256 key must be 32 bytes", nameof(key));
        if (iv.Length != IvSize) throw new ArgumentException("IV must be 16 bytes", nameof(iv));
        var gcm = new GcmBlockCipher(AesUtilities.CreateEngine());
        gcm.Init(forEncryption, new AeadParameters(new KeyParameter(key.ToArray()), TagSize * 8, iv.ToArray()));
        return gcm;
    }
}
