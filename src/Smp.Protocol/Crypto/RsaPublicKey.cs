using System.Security.Cryptography;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.Pkcs;
using Org.BouncyCastle.Asn1.X509;

namespace Smp.Protocol.Crypto;

/// <summary>
/// An RSA public key from the wire (DER SubjectPublicKeyInfo). The reference generates keys whose
/// public exponent is a random prime of up to ~1025 bits, often larger than a 1024-bit modulus;
/// OpenSSL's RSA API (the BCL's backend) refuses e ≥ n and, above 3072 bits, e over 64 bits. Where the
/// system libcrypto is loaded (Linux), every key's signatures are checked by RFC 8017 PSS here
/// (<see cref="RsaPublicOps"/>) over libcrypto's Montgomery exponentiation (<see cref="RsaExponentiation"/>),
/// which takes any exponent and skips the BCL's per-call EVP context; elsewhere ordinary keys use the BCL and
/// huge exponents big integers. OAEP uses the BCL for the keys it takes. (BouncyCastle's key parameters were
/// the first choice, but their constructor runs a primality test on the modulus: 17 ms a key.)
/// </summary>
public sealed class RsaPublicKey : IDisposable
{
    private readonly Lazy<RSA?> _bcl;
    private readonly RsaExponentiation? _raw;

    private RsaPublicKey(byte[] der, int modulusBits, int exponentBits, Lazy<RSA?> bcl, RsaExponentiation? raw)
    {
        Der = der;
        _bcl = bcl;
        _raw = raw;
        ModulusBits = modulusBits;
        ModulusBytes = (modulusBits + 7) / 8;
        ExponentBits = exponentBits;
    }

    private int ModulusBits { get; }

    /// <summary>The DER SubjectPublicKeyInfo, exactly as received.</summary>
    public byte[] Der { get; }

    public int ModulusBytes { get; }

    public int ExponentBits { get; }

    /// <summary>True when the BCL takes this key (for OAEP; and for signatures where libcrypto is not loaded).</summary>
    public bool UsesBcl => _bcl.Value is not null;

    /// <summary>
    /// Parses one DER SPKI holding an RSA key and nothing after it; the modulus must be 1024, 2048 or
    /// 4096 bits as the protocol allows. Anything else is refused, never thrown.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> der, out RsaPublicKey? key) => TryParse(der, out key, out _);

    /// <summary>
    /// As <see cref="TryParse(ReadOnlySpan{byte}, out RsaPublicKey?)"/>, and tells a well-formed RSA key of a
    /// size the protocol does not allow (<paramref name="badSize"/>: the server answers CMD KEY_SIZE) from
    /// bytes that are no RSA key at all (CMD SYNTAX).
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> der, out RsaPublicKey? key, out bool badSize)
    {
        key = null;
        badSize = false;
        if (der.IsEmpty || der.Length > 4096) return false;
        try
        {
            var bytes = der.ToArray();
            using var stream = new Asn1InputStream(bytes);
            if (stream.ReadObject() is not Asn1Sequence seq || stream.ReadObject() is not null) return false;
            var spki = SubjectPublicKeyInfo.GetInstance(seq);
            if (!spki.Algorithm.Algorithm.Equals(PkcsObjectIdentifiers.RsaEncryption)) return false;
            var rsa = RsaPublicKeyStructure.GetInstance(spki.ParsePublicKey());
            if (rsa.Modulus.SignValue <= 0 || rsa.PublicExponent.SignValue <= 0 || !rsa.PublicExponent.TestBit(0)) return false;
            var modulusBytes = (rsa.Modulus.BitLength + 7) / 8;
            if (!SmpRsa.IsAllowedModulusBytes(modulusBytes))
            {
                badSize = true;
                return false;
            }
            var n = rsa.Modulus.ToByteArrayUnsigned();
            var e = rsa.PublicExponent.ToByteArrayUnsigned();
            var bclTakesIt = rsa.PublicExponent.BitLength <= 64 || (rsa.PublicExponent.CompareTo(rsa.Modulus) < 0 && rsa.Modulus.BitLength <= 3072);
            // With libcrypto, signatures of every key are checked through it (no EVP context per call, half the
            // cost of the BCL's verify), and the BCL key, ~150 µs to import, is made only if OAEP needs it.
            RsaExponentiation? raw = LibCryptoRsaExponentiation.TryCreate(n, e);
            Lazy<RSA?> bcl;
            if (raw is not null) bcl = new Lazy<RSA?>(() => bclTakesIt ? ImportBcl(n, e) : null);
            else
            {
                var imported = bclTakesIt ? ImportBcl(n, e) : null;
                bcl = new Lazy<RSA?>(imported);
                if (imported is null) raw = new ManagedRsaExponentiation(n, e);
            }
            key = new RsaPublicKey(bytes, rsa.Modulus.BitLength, rsa.PublicExponent.BitLength, bcl, raw);
            return true;
        }
        catch (Exception e) when (e is ArgumentException or IOException or InvalidCastException or InvalidOperationException or Asn1Exception)
        {
            return false;
        }
    }

    private static RSA? ImportBcl(byte[] n, byte[] e)
    {
        var rsa = RSA.Create();
        try
        {
            rsa.ImportParameters(new RSAParameters { Modulus = n, Exponent = e });
            return rsa;
        }
        catch (CryptographicException)
        {
            rsa.Dispose();
            return null;
        }
    }

    public static RsaPublicKey Parse(ReadOnlySpan<byte> der) =>
        TryParse(der, out var key) ? key! : throw new FormatException("not an RSA public key of an allowed size");

    public static RsaPublicKey FromRsa(RSA rsa) => Parse(rsa.ExportSubjectPublicKeyInfo());

    /// <summary>RSA-PSS, SHA-256, MGF1-SHA-256, salt 32. False for any malformed signature.</summary>
    public bool Verify(ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature)
    {
        if (signature.Length != ModulusBytes) return false;
        if (_raw is not null) return RsaPublicOps.VerifyPss(_raw, ModulusBits, data, signature);
        try
        {
            return _bcl.Value!.VerifyData(data, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pss);
        }
        catch (CryptographicException)
        {
            return false;
        }
    }

    /// <summary>RSA-OAEP with SHA-256 for hash and MGF1, empty label.</summary>
    public byte[] Encrypt(ReadOnlySpan<byte> data)
    {
        if (_bcl.Value is { } bcl) return bcl.Encrypt(data.ToArray(), RSAEncryptionPadding.OaepSHA256);
        return RsaPublicOps.EncryptOaep(_raw!, ModulusBytes, data);
    }

    /// <summary>True when signatures are checked with libcrypto's exponentiation and RsaPublicOps.</summary>
    internal bool UsesLibCrypto => _raw is LibCryptoRsaExponentiation;

    public void Dispose()
    {
        if (_bcl.IsValueCreated) _bcl.Value?.Dispose();
        _raw?.Dispose();
    }
}
