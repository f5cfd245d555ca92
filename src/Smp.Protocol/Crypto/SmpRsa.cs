using System.Security.Cryptography;

namespace Smp.Protocol.Crypto;

/// <summary>
/// RSA as SMP uses it (smp-wire.md §3, §6; agent.md §2): PSS signatures with SHA-256, MGF1-SHA-256
/// and a 32-byte salt; OAEP with SHA-256 for hash and MGF1 and an empty label. Public keys travel as
/// DER SubjectPublicKeyInfo, parsed into <see cref="RsaPublicKey"/> (which copes with the reference's huge
/// public exponents). Private keys are always our own, made by the BCL with e = 65537.
/// </summary>
public static class SmpRsa
{
    public const int DefaultKeyBits = 2048;

    /// <summary>Key sizes the protocol allows (bytes of modulus): 1024, 2048 and 4096 bits.</summary>
    public static bool IsAllowedModulusBytes(int bytes) => bytes is 128 or 256 or 512;

    public static RSA Generate(int bits = DefaultKeyBits) => RSA.Create(bits);

    /// <summary>Imports a DER SubjectPublicKeyInfo; false for anything that is not one RSA public key of an allowed size.</summary>
    public static bool TryImportPublicKey(ReadOnlySpan<byte> spki, out RsaPublicKey? key) => RsaPublicKey.TryParse(spki, out key);

    public static byte[] Sign(RSA key, ReadOnlySpan<byte> data) =>
        key.SignData(data, HashAlgorithmName.SHA256, RSASignaturePadding.Pss);

    public static bool TryDecrypt(RSA key, ReadOnlySpan<byte> data, out byte[] plaintext)
    {
        plaintext = [];
        if (data.Length != key.KeySize / 8) return false;
        try
        {
            plaintext = key.Decrypt(data.ToArray(), RSAEncryptionPadding.OaepSHA256);
            return true;
        }
        catch (CryptographicException)
        {
            return false;
        }
    }

    public static byte[] ExportPublicKey(RSA key) => key.ExportSubjectPublicKeyInfo();

    /// <summary>SHA-256 of the DER public key: the <c>#keyHash</c> of a server address.</summary>
    public static byte[] KeyHash(ReadOnlySpan<byte> spki) => SHA256.HashData(spki);
}
