using System.Buffers.Binary;
using System.Security.Cryptography;
using Smp.Protocol.Crypto;

namespace Smp.Protocol.Agent;

/// <summary>
/// The end-to-end layer of an agent message body (agent.md §2):
/// <code>
/// body      = signature encrypted                 ; signature: RSA-PSS over encrypted, modulus-length bytes
/// encrypted = RSA-OAEP(EK, header) ciphertext     ; the OAEP part is modulus-length bytes
/// header    = aesKey[32] iv[16] authTag[16] plaintextLen:u32
/// ciphertext = AES-256-GCM(aesKey, iv, plaintext padded with '#' to the fixed size)
/// </code>
/// </summary>
public static class E2eEnvelope
{
    public const int HeaderSize = 32 + 16 + 16 + 4;
    public const byte Pad = (byte)'#';

    /// <summary>Room left in a block for the SMP command around the body (agent.md §2).</summary>
    public const int SmpCommandRoom = 256;

    /// <summary>Padded plaintext size: block size minus 3 × key size minus room for the SMP command.</summary>
    public static int PaddedSize(int blockSize, int keyBytes) => blockSize - 3 * keyBytes - SmpCommandRoom;

    /// <summary>Size of a sealed body for these parameters: signature + OAEP header + ciphertext.</summary>
    public static int BodySize(int blockSize, int keyBytes) => 2 * keyBytes + PaddedSize(blockSize, keyBytes);

    /// <summary>Encrypts <paramref name="plaintext"/> to the recipient's key and signs the result.</summary>
    public static byte[] Seal(RsaPublicKey encryptionKey, RSA signingKey, ReadOnlySpan<byte> plaintext, int paddedSize)
    {
        var encrypted = Encrypt(encryptionKey, plaintext, paddedSize);
        var signature = SmpRsa.Sign(signingKey, encrypted);
        var body = new byte[signature.Length + encrypted.Length];
        signature.CopyTo(body, 0);
        encrypted.CopyTo(body, signature.Length);
        return body;
    }

    public static byte[] Encrypt(RsaPublicKey encryptionKey, ReadOnlySpan<byte> plaintext, int paddedSize)
    {
        if (plaintext.Length > paddedSize) throw new ArgumentException("plaintext larger than the padded size", nameof(plaintext));
        var aesKey = RandomNumberGenerator.GetBytes(AesGcm16.KeySize);
        var iv = RandomNumberGenerator.GetBytes(AesGcm16.IvSize);
        var padded = new byte[paddedSize];
        plaintext.CopyTo(padded);
        padded.AsSpan(plaintext.Length).Fill(Pad);
        var ciphertext = new byte[paddedSize];
        var tag = new byte[AesGcm16.TagSize];
        AesGcm16.Encrypt(aesKey, iv, padded, ciphertext, tag);
        var header = new byte[HeaderSize];
        aesKey.CopyTo(header, 0);
        iv.CopyTo(header, 32);
        tag.CopyTo(header, 48);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(64), (uint)plaintext.Length);
        var sealedHeader = encryptionKey.Encrypt(header);
        var output = new byte[sealedHeader.Length + ciphertext.Length];
        sealedHeader.CopyTo(output, 0);
        ciphertext.CopyTo(output, sealedHeader.Length);
        return output;
    }

    /// <summary>Splits a body into its signature and encrypted part; false when it is too short to hold both.</summary>
    public static bool TrySplit(ReadOnlySpan<byte> body, int keyBytes, out ReadOnlySpan<byte> signature, out ReadOnlySpan<byte> encrypted)
    {
        signature = default;
        encrypted = default;
        if (body.Length <= 2 * keyBytes) return false;
        signature = body[..keyBytes];
        encrypted = body[keyBytes..];
        return true;
    }

    /// <summary>Decrypts the encrypted part; false when the header or the ciphertext does not open.</summary>
    public static bool TryDecrypt(RSA decryptionKey, ReadOnlySpan<byte> encrypted, out byte[] plaintext)
    {
        plaintext = [];
        var keyBytes = decryptionKey.KeySize / 8;
        if (encrypted.Length <= keyBytes) return false;
        if (!SmpRsa.TryDecrypt(decryptionKey, encrypted[..keyBytes], out var header) || header.Length != HeaderSize) return false;
        var ciphertext = encrypted[keyBytes..];
        var length = BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(64));
        if (length > (uint)ciphertext.Length) return false;
        var padded = new byte[ciphertext.Length];
        if (!AesGcm16.TryDecrypt(header.AsSpan(0, 32), header.AsSpan(32, 16), ciphertext, header.AsSpan(48, 16), padded)) return false;
        plaintext = padded.AsSpan(0, (int)length).ToArray();
        return true;
    }
}
