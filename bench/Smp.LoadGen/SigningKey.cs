using System.Security.Cryptography;
using Org.BouncyCastle.Crypto.Digests;
using Org.BouncyCastle.Crypto.Engines;
using Org.BouncyCastle.Crypto.Generators;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Crypto.Signers;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.X509;
using Smp.Protocol.Crypto;
using BcBigInteger = Org.BouncyCastle.Math.BigInteger;

namespace Smp.LoadGen;

/// <summary>
/// A queue key of the generator: an ordinary BCL key (e = 65537), or a reference-style one whose public
/// exponent is a random 1025-bit prime, as simplexmq 0.3.1 agents make them (larger than a 1024-bit
/// modulus, which OpenSSL refuses), signed through BouncyCastle.
/// </summary>
internal sealed class SigningKey : IDisposable
{
    private readonly RSA? _bcl;
    private readonly RsaKeyParameters? _bcPrivate;

    private SigningKey(byte[] publicKey, RSA? bcl, RsaKeyParameters? bcPrivate)
    {
        PublicKey = publicKey;
        _bcl = bcl;
        _bcPrivate = bcPrivate;
    }

    /// <summary>DER SubjectPublicKeyInfo, as NEW and KEY carry it.</summary>
    public byte[] PublicKey { get; }

    public static SigningKey Ordinary(int bits)
    {
        var rsa = SmpRsa.Generate(bits);
        return new SigningKey(SmpRsa.ExportPublicKey(rsa), rsa, null);
    }

    public static SigningKey ReferenceStyle(int bits)
    {
        var random = new SecureRandom();
        var gen = new RsaKeyPairGenerator();
        gen.Init(new RsaKeyGenerationParameters(BcBigInteger.ProbablePrime(1025, random), random, bits, 80));
        var pair = gen.GenerateKeyPair();
        return new SigningKey(SubjectPublicKeyInfoFactory.CreateSubjectPublicKeyInfo(pair.Public).GetDerEncoded(), null, (RsaKeyParameters)pair.Private);
    }

    /// <summary>RSA-PSS, SHA-256, MGF1-SHA-256, salt 32 (smp-wire.md §3).</summary>
    public byte[] Sign(byte[] data)
    {
        if (_bcl is not null) return SmpRsa.Sign(_bcl, data);
        var signer = new PssSigner(new RsaEngine(), new Sha256Digest(), 32);
        signer.Init(true, _bcPrivate);
        signer.BlockUpdate(data, 0, data.Length);
        return signer.GenerateSignature();
    }

    public void Dispose() => _bcl?.Dispose();
}
