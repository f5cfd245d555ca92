using System.Security.Cryptography;
using Org.BouncyCastle.Crypto.Digests;
using Org.BouncyCastle.Crypto.Engines;
using Org.BouncyCastle.Crypto.Generators;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Crypto.Signers;
using Org.BouncyCastle.Math;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.X509;

namespace Smp.Benchmarks;

/// <summary>Keys for the benchmarks, made once per process.</summary>
public static class Keys
{
    private static readonly Lazy<RSA> Rsa1024Lazy = new(() => RSA.Create(1024));
    private static readonly Lazy<RSA> Rsa2048Lazy = new(() => RSA.Create(2048));

    public static RSA Rsa1024 => Rsa1024Lazy.Value;

    public static RSA Rsa2048 => Rsa2048Lazy.Value;

    /// <summary>
    /// A 1024-bit key whose public exponent is a 1025-bit prime, larger than the modulus, as the reference
    /// makes them; OpenSSL refuses it, so it is verified through BouncyCastle. Returns its DER public key and
    /// a PSS signature of <paramref name="data"/> made with it.
    /// </summary>
    public static (byte[] Spki, byte[] Signature) HugeExponentKey(byte[] data)
    {
        var random = new SecureRandom();
        var gen = new RsaKeyPairGenerator();
        gen.Init(new RsaKeyGenerationParameters(BigInteger.ProbablePrime(1025, random), random, 1024, 80));
        var pair = gen.GenerateKeyPair();
        var signer = new PssSigner(new RsaEngine(), new Sha256Digest(), 32);
        signer.Init(true, pair.Private);
        signer.BlockUpdate(data, 0, data.Length);
        return (SubjectPublicKeyInfoFactory.CreateSubjectPublicKeyInfo(pair.Public).GetDerEncoded(), signer.GenerateSignature());
    }
}
