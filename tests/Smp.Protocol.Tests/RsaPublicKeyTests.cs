using System.Security.Cryptography;
using Org.BouncyCastle.Crypto.Generators;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Math;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.X509;
using Smp.Protocol.Crypto;

namespace Smp.Protocol.Tests;

public class RsaPublicKeyTests
{
    /// <summary>A 1024-bit key whose public exponent is a ~1025-bit prime, larger than the modulus, as the reference makes them.</summary>
    private static (RSA Private, byte[] Spki) ReferenceStyleKey()
    {
        var random = new SecureRandom();
        var e = BigInteger.ProbablePrime(1025, random);
        var gen = new RsaKeyPairGenerator();
        gen.Init(new RsaKeyGenerationParameters(e, random, 1024, 80));
        var pair = gen.GenerateKeyPair();
        var spki = SubjectPublicKeyInfoFactory.CreateSubjectPublicKeyInfo(pair.Public).GetDerEncoded();
        var p = (RsaPrivateCrtKeyParameters)pair.Private;
        var rsa = RSA.Create();
        rsa.ImportParameters(DotNetUtilities.ToRSAParameters(p));
        return (rsa, spki);
    }

    [Fact]
    public void A_key_with_an_exponent_larger_than_its_modulus_still_verifies_and_encrypts()
    {
        var (priv, spki) = ReferenceStyleKey();
        Assert.True(RsaPublicKey.TryParse(spki, out var pub));
        Assert.False(pub!.UsesBcl);
        Assert.True(pub.ExponentBits > 1024);
        var data = "signed part"u8.ToArray();
        // Sign with BouncyCastle: OpenSSL refuses such keys for private operations too.
        var signer = new Org.BouncyCastle.Crypto.Signers.PssSigner(new Org.BouncyCastle.Crypto.Engines.RsaEngine(), new Org.BouncyCastle.Crypto.Digests.Sha256Digest(), 32);
        signer.Init(true, DotNetUtilities.GetRsaKeyPair(priv).Private);
        signer.BlockUpdate(data, 0, data.Length);
        var sig = signer.GenerateSignature();
        Assert.True(pub.Verify(data, sig));
        sig[5] ^= 1;
        Assert.False(pub.Verify(data, sig));
        priv.Dispose();
    }

    [Fact]
    public void Oaep_under_a_key_with_an_exponent_larger_than_its_modulus_decrypts_with_its_private_key()
    {
        var (priv, spki) = ReferenceStyleKey();
        using var pub = RsaPublicKey.Parse(spki);
        var sealedBytes = pub.Encrypt("header bytes"u8);
        var oaep = new Org.BouncyCastle.Crypto.Encodings.OaepEncoding(new Org.BouncyCastle.Crypto.Engines.RsaEngine(),
            new Org.BouncyCastle.Crypto.Digests.Sha256Digest(), new Org.BouncyCastle.Crypto.Digests.Sha256Digest(), null);
        oaep.Init(false, DotNetUtilities.GetRsaKeyPair(priv).Private);
        Assert.Equal("header bytes"u8.ToArray(), oaep.ProcessBlock(sealedBytes, 0, sealedBytes.Length));
        priv.Dispose();
    }

    private static byte[] PssSign(RSA priv, byte[] data)
    {
        var signer = new Org.BouncyCastle.Crypto.Signers.PssSigner(new Org.BouncyCastle.Crypto.Engines.RsaEngine(), new Org.BouncyCastle.Crypto.Digests.Sha256Digest(), 32);
        signer.Init(true, DotNetUtilities.GetRsaKeyPair(priv).Private);
        signer.BlockUpdate(data, 0, data.Length);
        return signer.GenerateSignature();
    }

    [Fact]
    public void On_linux_huge_exponents_are_raised_by_libcrypto()
    {
        var (priv, spki) = ReferenceStyleKey();
        using var pub = RsaPublicKey.Parse(spki);
        Assert.Equal(OperatingSystem.IsLinux(), LibCryptoRsaExponentiation.IsAvailable);
        Assert.Equal(LibCryptoRsaExponentiation.IsAvailable, pub.UsesLibCrypto);
        priv.Dispose();
    }

    [Fact]
    public void Libcrypto_and_big_integers_raise_to_huge_exponents_alike()
    {
        if (!LibCryptoRsaExponentiation.IsAvailable) return;
        var (priv, _) = ReferenceStyleKey();
        var p = DotNetUtilities.GetRsaKeyPair(priv).Public as Org.BouncyCastle.Crypto.Parameters.RsaKeyParameters;
        var n = p!.Modulus.ToByteArrayUnsigned();
        var e = p.Exponent.ToByteArrayUnsigned();
        using var native = LibCryptoRsaExponentiation.TryCreate(n, e)!;
        using var managed = new ManagedRsaExponentiation(n, e);
        var x = new byte[n.Length];
        var a = new byte[n.Length];
        var b = new byte[n.Length];
        for (var i = 0; i < 20; i++)
        {
            RandomNumberGenerator.Fill(x);
            x[0] &= 0x7f;
            // Small inputs too: the output is left-padded to the modulus length.
            if (i % 5 == 0) x.AsSpan(0, n.Length - 3).Clear();
            Assert.True(native.TryApply(x, a));
            Assert.True(managed.TryApply(x, b));
            Assert.Equal(b, a);
        }
        priv.Dispose();
    }

    /// <summary>A reference-style key and its exponentiations: managed always, libcrypto where it loads.</summary>
    private static (RSA Private, Org.BouncyCastle.Crypto.Parameters.RsaKeyParameters Public, byte[] Modulus, List<RsaExponentiation> Exponentiations) ReferenceStyleExponentiations()
    {
        var (priv, _) = ReferenceStyleKey();
        var p = (Org.BouncyCastle.Crypto.Parameters.RsaKeyParameters)DotNetUtilities.GetRsaKeyPair(priv).Public;
        var n = p.Modulus.ToByteArrayUnsigned();
        var e = p.Exponent.ToByteArrayUnsigned();
        var exps = new List<RsaExponentiation> { new ManagedRsaExponentiation(n, e) };
        if (LibCryptoRsaExponentiation.TryCreate(n, e) is { } native) exps.Add(native);
        return (priv, p, n, exps);
    }

    /// <summary>
    /// Signature malleability: s + n raised to e is s^e mod n, so without the range check of RFC 8017
    /// §5.2.2 a second signature for the same data would verify (OpenSSL reduces out-of-range inputs).
    /// </summary>
    [Fact]
    public void A_signature_plus_the_modulus_is_refused_by_both_exponentiations()
    {
        var (priv, p, n, exps) = ReferenceStyleExponentiations();
        var data = "signed part"u8.ToArray();
        Org.BouncyCastle.Math.BigInteger forged;
        byte[] sig;
        do
        {
            sig = PssSign(priv, data);
            forged = new Org.BouncyCastle.Math.BigInteger(1, sig).Add(p.Modulus);
        }
        while (forged.BitLength > 8 * n.Length);
        var forgedBytes = forged.ToByteArrayUnsigned();
        Assert.Equal(n.Length, forgedBytes.Length);
        foreach (var raw in exps)
        {
            using (raw)
            {
                Assert.True(RsaPublicOps.VerifyPss(raw, p.Modulus.BitLength, data, sig));
                Assert.False(RsaPublicOps.VerifyPss(raw, p.Modulus.BitLength, data, forgedBytes));
            }
        }
        priv.Dispose();
    }

    [Fact]
    public void Huge_exponent_oaep_agrees_on_both_exponentiations()
    {
        var (priv, _, n, exps) = ReferenceStyleExponentiations();
        var oaep = new Org.BouncyCastle.Crypto.Encodings.OaepEncoding(new Org.BouncyCastle.Crypto.Engines.RsaEngine(),
            new Org.BouncyCastle.Crypto.Digests.Sha256Digest(), new Org.BouncyCastle.Crypto.Digests.Sha256Digest(), null);
        oaep.Init(false, DotNetUtilities.GetRsaKeyPair(priv).Private);
        foreach (var raw in exps)
        {
            using (raw)
            {
                var c = RsaPublicOps.EncryptOaep(raw, n.Length, "header"u8);
                Assert.Equal("header"u8.ToArray(), oaep.ProcessBlock(c, 0, c.Length));
            }
        }
        priv.Dispose();
    }

    [Theory]
    [InlineData(1024)]
    [InlineData(2048)]
    public void The_big_integer_path_agrees_with_the_bcl_on_ordinary_keys(int bits)
    {
        using var rsa = RSA.Create(bits);
        var p = rsa.ExportParameters(false);
        var n = new System.Numerics.BigInteger(p.Modulus, isUnsigned: true, isBigEndian: true);
        var e = new System.Numerics.BigInteger(p.Exponent, isUnsigned: true, isBigEndian: true);
        var sig = SmpRsa.Sign(rsa, "data"u8);
        Assert.True(RsaPublicOps.VerifyPss(n, e, bits, "data"u8, sig));
        Assert.False(RsaPublicOps.VerifyPss(n, e, bits, "dato"u8, sig));
        sig[^1] ^= 1;
        Assert.False(RsaPublicOps.VerifyPss(n, e, bits, "data"u8, sig));
        Assert.False(RsaPublicOps.VerifyPss(n, e, bits, "data"u8, new byte[bits / 8]));
        var c = RsaPublicOps.EncryptOaep(n, e, bits / 8, "secret"u8);
        Assert.True(SmpRsa.TryDecrypt(rsa, c, out var plain));
        Assert.Equal("secret"u8.ToArray(), plain);
    }

    [Theory]
    [InlineData(1024)]
    [InlineData(2048)]
    [InlineData(4096)]
    public void On_ordinary_keys_the_libcrypto_path_agrees_with_the_bcl(int bits)
    {
        using var rsa = RSA.Create(bits);
        using var pub = RsaPublicKey.FromRsa(rsa);
        Assert.Equal(LibCryptoRsaExponentiation.IsAvailable, pub.UsesLibCrypto);
        var data = "17 AAAA SEND 5 hello "u8.ToArray();
        var sig = SmpRsa.Sign(rsa, data);
        Assert.True(pub.Verify(data, sig));
        Assert.True(rsa.VerifyData(data, sig, HashAlgorithmName.SHA256, RSASignaturePadding.Pss));
        data[0] ^= 1;
        Assert.False(pub.Verify(data, sig));
        data[0] ^= 1;
        for (var i = 0; i < sig.Length; i += 37)
        {
            sig[i] ^= 0x10;
            Assert.Equal(rsa.VerifyData(data, sig, HashAlgorithmName.SHA256, RSASignaturePadding.Pss), pub.Verify(data, sig));
            sig[i] ^= 0x10;
        }
        // PKCS#1 v1.5 is not PSS.
        Assert.False(pub.Verify(data, rsa.SignData(data, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)));
    }

    [Fact]
    public void An_ordinary_key_uses_the_bcl_path()
    {
        using var rsa = RSA.Create(2048);
        using var pub = RsaPublicKey.FromRsa(rsa);
        Assert.True(pub.UsesBcl);
        var sig = SmpRsa.Sign(rsa, "x"u8);
        Assert.True(pub.Verify("x"u8, sig));
        Assert.True(SmpRsa.TryDecrypt(rsa, pub.Encrypt("secret"u8), out var plain));
        Assert.Equal("secret"u8.ToArray(), plain);
    }

    [Fact]
    public void Keys_of_sizes_the_protocol_does_not_allow_are_refused()
    {
        using var rsa = RSA.Create(1536);
        Assert.False(RsaPublicKey.TryParse(rsa.ExportSubjectPublicKeyInfo(), out _));
    }

    [Theory]
    [InlineData(new byte[0])]
    [InlineData(new byte[] { 0x30, 0x03, 0x02, 0x01, 0x01 })]
    [InlineData(new byte[] { 0xff, 0xff, 0xff })]
    public void Garbage_is_not_a_key(byte[] der) => Assert.False(RsaPublicKey.TryParse(der, out _));

    [Fact]
    public void Trailing_bytes_after_the_key_are_refused()
    {
        using var rsa = RSA.Create(1024);
        var der = rsa.ExportSubjectPublicKeyInfo().Concat(new byte[] { 0x05, 0x00 }).ToArray();
        Assert.False(RsaPublicKey.TryParse(der, out _));
    }
}
