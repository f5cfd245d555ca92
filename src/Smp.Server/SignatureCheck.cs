using System.Formats.Asn1;
using System.Numerics;
using System.Security.Cryptography;
using Smp.Protocol.Crypto;

namespace Smp.Server;

/// <summary>
/// Signature checks of smp-wire.md §4. A failed check costs about the same whether or not the queue
/// exists or the key fits: without a usable key, the signature is verified against a dummy key of its
/// own size and the result discarded, so ERR AUTH does not reveal which queues exist.
/// </summary>
internal static class SignatureCheck
{
    private static readonly Lazy<RsaPublicKey>[] DummyKeys =
    [
        new(() => MakeDummy(128)),
        new(() => MakeDummy(256)),
        new(() => MakeDummy(512)),
    ];

    /// <summary>Parsed keys cache per thread: parsing and importing a key costs more than verifying with it.</summary>
    private const int CacheLimit = 4096;

    [ThreadStatic]
    private static Dictionary<byte[], RsaPublicKey>? t_keys;

    /// <summary>True when <paramref name="signature"/> is a valid PSS signature of <paramref name="signed"/> by <paramref name="keyDer"/>.</summary>
    public static bool Verify(byte[]? keyDer, ReadOnlySpan<byte> signature, ReadOnlySpan<byte> signed)
    {
        if (keyDer is not null && Parsed(keyDer) is { } key && key.ModulusBytes == signature.Length) return key.Verify(signed, signature);
        DummyVerify(signature, signed);
        return false;
    }

    /// <summary>
    /// The parsed key, from this thread's cache when it is there (an RSA object is not shared between threads).
    /// Keys come from the queue store, so they parsed when stored; null only for a key that never would.
    /// </summary>
    private static RsaPublicKey? Parsed(byte[] keyDer)
    {
        var keys = t_keys ??= new Dictionary<byte[], RsaPublicKey>(ByteArrayComparer.Instance);
        if (keys.TryGetValue(keyDer, out var key)) return key;
        if (!RsaPublicKey.TryParse(keyDer, out key)) return null;
        if (keys.Count >= CacheLimit)
        {
            foreach (var old in keys.Values) old.Dispose();
            keys.Clear();
        }
        keys[keyDer] = key!;
        return key;
    }

    /// <summary>Spends a verification's worth of time on a signature that is failed anyway.</summary>
    public static void DummyVerify(ReadOnlySpan<byte> signature, ReadOnlySpan<byte> signed)
    {
        var index = signature.Length switch { 128 => 0, 512 => 2, _ => 1 };
        var dummy = DummyKeys[index].Value;
        Span<byte> sig = stackalloc byte[dummy.ModulusBytes];
        signature[..Math.Min(signature.Length, sig.Length)].CopyTo(sig);
        _ = dummy.Verify(signed, sig);
    }

    /// <summary>BouncyCastle refuses moduli with prime factors below 752, as a real RSA modulus has none.</summary>
    private static bool HasSmallFactor(byte[] n)
    {
        var value = new BigInteger(n, isUnsigned: true, isBigEndian: true);
        for (var p = 3; p < 752; p += 2)
        {
            var prime = true;
            for (var d = 3; d * d <= p; d += 2) if (p % d == 0) prime = false;
            if (prime && value % p == 0) return true;
        }
        return false;
    }

    /// <summary>
    /// A public key with a random modulus of the given size: verifying against it takes the time of a
    /// real verification, and no private key is needed, so none has to be generated at start.
    /// </summary>
    private static RsaPublicKey MakeDummy(int bytes)
    {
        byte[] n;
        do
        {
            n = RandomNumberGenerator.GetBytes(bytes);
            n[0] |= 0x80;
            n[^1] |= 1;
        }
        while (HasSmallFactor(n));
        var key = new AsnWriter(AsnEncodingRules.DER);
        using (key.PushSequence())
        {
            key.WriteIntegerUnsigned(n);
            key.WriteInteger(65537);
        }
        var spki = new AsnWriter(AsnEncodingRules.DER);
        using (spki.PushSequence())
        {
            using (spki.PushSequence())
            {
                spki.WriteObjectIdentifier("1.2.840.113549.1.1.1");
                spki.WriteNull();
            }
            spki.WriteBitString(key.Encode());
        }
        return RsaPublicKey.Parse(spki.Encode());
    }
}
