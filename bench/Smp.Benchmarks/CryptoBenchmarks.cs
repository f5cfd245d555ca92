using System.Security.Cryptography;
using System.Text;
using BenchmarkDotNet.Attributes;
using Smp.Protocol.Agent;
using Smp.Protocol.Crypto;
using Smp.Protocol.Transport;

namespace Smp.Benchmarks;

/// <summary>One 4,096-byte transport block (AES-256-GCM) of a 3,900-byte transmission.</summary>
[MemoryDiagnoser]
public class BlockCipherBenchmarks
{
    private readonly byte[] _block = new byte[4096];
    private readonly byte[] _plain = new byte[4080];
    private readonly byte[] _transmission = Encoding.ASCII.GetBytes(new string('t', 3900));
    private BlockCipher _send = null!;
    private BlockCipher _receive = null!;

    [GlobalSetup]
    public void Setup()
    {
        var key = new byte[32];
        var iv = new byte[16];
        Random.Shared.NextBytes(key);
        Random.Shared.NextBytes(iv);
        _send = new BlockCipher(key, iv, 4096);
        _receive = new BlockCipher(key, iv, 4096);
    }

    [Benchmark(Description = "encrypt block")]
    public void Encrypt() => _send.Encrypt(_transmission, _block);

    /// <summary>Decryption alone cannot repeat (the counter moves on), so it is the round trip minus the encryption.</summary>
    [Benchmark(Description = "encrypt + decrypt block")]
    public bool RoundTrip()
    {
        _send.Encrypt(_transmission, _block);
        return _receive.TryDecrypt(_block, _plain);
    }
}

/// <summary>
/// Public-key parsing and RSA-PSS verification as the server does them per command, and the client's signing.
/// The huge-exponent key (e > n, as the reference makes them) takes the RFC 8017 path of RsaPublicOps, its
/// exponentiation in libcrypto (BN_mod_exp_mont) or, as the fallback, on BouncyCastle's BigInteger;
/// System.Numerics.BigInteger (the fallback before) is measured beside them.
/// </summary>
public class RsaBenchmarks
{
    private readonly byte[] _data = Encoding.ASCII.GetBytes("17 AAAAAAAAAAAAAAAA SEND 3584 " + new string('x', 200));
    private byte[] _spki1024 = [];
    private byte[] _spki2048 = [];
    private byte[] _spkiHuge = [];
    private byte[] _sig1024 = [];
    private byte[] _sig2048 = [];
    private byte[] _sigHuge = [];
    private RsaPublicKey _key1024 = null!;
    private RsaPublicKey _key2048 = null!;
    private RsaPublicKey _keyHuge = null!;
    private RsaExponentiation _managedHuge = null!;
    private Org.BouncyCastle.Math.BigInteger _bcN = null!;
    private Org.BouncyCastle.Math.BigInteger _bcE = null!;
    private System.Numerics.BigInteger _nN;
    private System.Numerics.BigInteger _nE;
    private System.Numerics.BigInteger _nS;

    [GlobalSetup]
    public void Setup()
    {
        _spki1024 = SmpRsa.ExportPublicKey(Keys.Rsa1024);
        _spki2048 = SmpRsa.ExportPublicKey(Keys.Rsa2048);
        (_spkiHuge, _sigHuge) = Keys.HugeExponentKey(_data);
        _sig1024 = SmpRsa.Sign(Keys.Rsa1024, _data);
        _sig2048 = SmpRsa.Sign(Keys.Rsa2048, _data);
        _key1024 = RsaPublicKey.Parse(_spki1024);
        _key2048 = RsaPublicKey.Parse(_spki2048);
        _keyHuge = RsaPublicKey.Parse(_spkiHuge);
        if (!_keyHuge.Verify(_data, _sigHuge) || _keyHuge.UsesBcl) throw new InvalidOperationException("huge-exponent key on the BCL path");
        var huge = (Org.BouncyCastle.Crypto.Parameters.RsaKeyParameters)Org.BouncyCastle.Security.PublicKeyFactory.CreateKey(_spkiHuge);
        _bcN = huge.Modulus;
        _bcE = huge.Exponent;
        _nN = new System.Numerics.BigInteger(_bcN.ToByteArrayUnsigned(), isUnsigned: true, isBigEndian: true);
        _nE = new System.Numerics.BigInteger(_bcE.ToByteArrayUnsigned(), isUnsigned: true, isBigEndian: true);
        _nS = new System.Numerics.BigInteger(_sigHuge, isUnsigned: true, isBigEndian: true);
        _managedHuge = new ManagedRsaExponentiation(_bcN.ToByteArrayUnsigned(), _bcE.ToByteArrayUnsigned());
        if (!RsaPublicOps.VerifyPss(_managedHuge, 1024, _data, _sigHuge)) throw new InvalidOperationException("managed path does not verify");

    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _key1024.Dispose();
        _key2048.Dispose();
        _keyHuge.Dispose();
        _managedHuge.Dispose();
    }

    [Benchmark(Description = "verify 1024 e=65537 (RsaPublicKey)")]
    public bool Verify1024() => _key1024.Verify(_data, _sig1024);

    [Benchmark(Description = "verify 2048 e=65537 (RsaPublicKey)")]
    public bool Verify2048() => _key2048.Verify(_data, _sig2048);

    [Benchmark(Description = "verify 1024 e=65537 (BCL RSA.VerifyData)")]
    public bool Verify1024Bcl() => Keys.Rsa1024.VerifyData(_data, _sig1024, HashAlgorithmName.SHA256, RSASignaturePadding.Pss);

    [Benchmark(Description = "verify 2048 e=65537 (BCL RSA.VerifyData)")]
    public bool Verify2048Bcl() => Keys.Rsa2048.VerifyData(_data, _sig2048, HashAlgorithmName.SHA256, RSASignaturePadding.Pss);

    [Benchmark(Description = "verify 1024 e=1025 bits (RsaPublicKey: libcrypto)")]
    public bool VerifyHuge() => _keyHuge.Verify(_data, _sigHuge);

    [Benchmark(Description = "verify 1024 e=1025 bits (managed fallback)")]
    public bool VerifyHugeManaged() => RsaPublicOps.VerifyPss(_managedHuge, 1024, _data, _sigHuge);

    [Benchmark(Description = "s^e mod n 1024, e=1025 bits (System.Numerics.BigInteger, the fallback before)")]
    public System.Numerics.BigInteger ModPowHugeNumerics() => System.Numerics.BigInteger.ModPow(_nS, _nE, _nN);

    [Benchmark(Description = "parse SPKI 1024 (RsaPublicKey.TryParse)")]
    public bool Parse1024() => Parse(_spki1024);

    [Benchmark(Description = "parse SPKI 2048 (RsaPublicKey.TryParse)")]
    public bool Parse2048() => Parse(_spki2048);

    [Benchmark(Description = "parse SPKI 1024 huge e")]
    public bool ParseHuge() => Parse(_spkiHuge);

    [Benchmark(Description = "sign 1024 (client)")]
    public byte[] Sign1024() => SmpRsa.Sign(Keys.Rsa1024, _data);

    [Benchmark(Description = "sign 2048 (client)")]
    public byte[] Sign2048() => SmpRsa.Sign(Keys.Rsa2048, _data);

    private static bool Parse(byte[] spki)
    {
        if (!RsaPublicKey.TryParse(spki, out var key)) return false;
        key!.Dispose();
        return true;
    }
}

/// <summary>The E2E layer of one agent message: 2048-bit OAEP encryption key, 2048-bit signing key, 4096-byte blocks.</summary>
public class E2eBenchmarks
{
    private readonly byte[] _plaintext = Encoding.ASCII.GetBytes(new string('p', 1000));
    private RsaPublicKey _encryptionKey = null!;
    private RsaPublicKey _verifyKey = null!;
    private byte[] _sealed = [];
    private int _padded;

    [GlobalSetup]
    public void Setup()
    {
        _padded = E2eEnvelope.PaddedSize(4096, 256);
        _encryptionKey = RsaPublicKey.FromRsa(Keys.Rsa2048);
        _verifyKey = RsaPublicKey.FromRsa(Keys.Rsa2048);
        _sealed = E2eEnvelope.Seal(_encryptionKey, Keys.Rsa2048, _plaintext, _padded);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _encryptionKey.Dispose();
        _verifyKey.Dispose();
    }

    [Benchmark(Description = "seal (OAEP + AES-GCM + PSS sign)")]
    public byte[] Seal() => E2eEnvelope.Seal(_encryptionKey, Keys.Rsa2048, _plaintext, _padded);

    [Benchmark(Description = "open (PSS verify + OAEP + AES-GCM)")]
    public byte[]? Open()
    {
        if (!E2eEnvelope.TrySplit(_sealed, 256, out var signature, out var encrypted)) return null;
        if (!_verifyKey.Verify(encrypted, signature)) return null;
        return E2eEnvelope.TryDecrypt(Keys.Rsa2048, encrypted, out var plaintext) ? plaintext : null;
    }
}
