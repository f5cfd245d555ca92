using System.Security.Cryptography;
using NumericsBigInteger = System.Numerics.BigInteger;

namespace Smp.Protocol.Crypto;

/// <summary>
/// RSA public-key operations of RFC 8017 for keys the BCL cannot take (huge public exponents): RSASSA-PSS
/// verification (§8.1.2, EMSA-PSS-VERIFY §9.1.2) and RSAES-OAEP encryption (§7.1.1), both with SHA-256,
/// MGF1-SHA-256, a 32-byte salt and an empty label, as SMP uses them. The exponentiation itself is an
/// <see cref="RsaExponentiation"/> (libcrypto or managed). Only public data is handled here, so no
/// constant-time care is needed.
/// </summary>
internal static class RsaPublicOps
{
    private const int HashLength = 32;
    private const int SaltLength = 32;

    /// <summary>On <see cref="System.Numerics.BigInteger"/>, as the fallback does it.</summary>
    public static bool VerifyPss(NumericsBigInteger n, NumericsBigInteger e, int modulusBits, ReadOnlySpan<byte> message, ReadOnlySpan<byte> signature)
    {
        using var raw = new ManagedRsaExponentiation(n.ToByteArray(isUnsigned: true, isBigEndian: true), e.ToByteArray(isUnsigned: true, isBigEndian: true));
        return VerifyPss(raw, modulusBits, message, signature);
    }

    public static bool VerifyPss(RsaExponentiation raw, int modulusBits, ReadOnlySpan<byte> message, ReadOnlySpan<byte> signature)
    {
        var k = (modulusBits + 7) / 8;
        if (signature.Length != k) return false;
        var emBits = modulusBits - 1;
        var emLength = (emBits + 7) / 8;
        // RSAVP1 gives k octets; when emLength = k - 1 the first one must be zero (RFC 8017 §8.1.2 step 2c).
        Span<byte> m = stackalloc byte[k];
        if (!raw.TryApply(signature, m)) return false;
        if (k > emLength && m[0] != 0) return false;
        ReadOnlySpan<byte> em = m[(k - emLength)..];
        if (emLength < HashLength + SaltLength + 2 || em[^1] != 0xbc) return false;
        var dbLength = emLength - HashLength - 1;
        var h = em.Slice(dbLength, HashLength);
        var unusedBits = 8 * emLength - emBits;
        var topMask = (byte)(0xff >> unusedBits);
        if ((em[0] & ~topMask) != 0) return false;
        Span<byte> db = stackalloc byte[dbLength];
        Mgf1(h, db);
        for (var i = 0; i < dbLength; i++) db[i] ^= em[i];
        db[0] &= topMask;
        var psLength = emLength - HashLength - SaltLength - 2;
        if (db[..psLength].ContainsAnyExcept((byte)0) || db[psLength] != 0x01) return false;
        Span<byte> mPrime = stackalloc byte[8 + HashLength + SaltLength];
        mPrime[..8].Clear();
        SHA256.HashData(message, mPrime.Slice(8, HashLength));
        db[(dbLength - SaltLength)..].CopyTo(mPrime[(8 + HashLength)..]);
        Span<byte> hPrime = stackalloc byte[HashLength];
        SHA256.HashData(mPrime, hPrime);
        return hPrime.SequenceEqual(h);
    }

    public static byte[] EncryptOaep(NumericsBigInteger n, NumericsBigInteger e, int k, ReadOnlySpan<byte> message)
    {
        using var raw = new ManagedRsaExponentiation(n.ToByteArray(isUnsigned: true, isBigEndian: true), e.ToByteArray(isUnsigned: true, isBigEndian: true));
        return EncryptOaep(raw, k, message);
    }

    public static byte[] EncryptOaep(RsaExponentiation raw, int k, ReadOnlySpan<byte> message)
    {
        if (message.Length > k - 2 * HashLength - 2) throw new CryptographicException("message too long for RSA-OAEP");
        var db = new byte[k - HashLength - 1];
        SHA256.HashData(ReadOnlySpan<byte>.Empty, db.AsSpan(0, HashLength));
        db[^(message.Length + 1)] = 0x01;
        message.CopyTo(db.AsSpan(db.Length - message.Length));
        var seed = RandomNumberGenerator.GetBytes(HashLength);
        var dbMask = new byte[db.Length];
        Mgf1(seed, dbMask);
        for (var i = 0; i < db.Length; i++) db[i] ^= dbMask[i];
        Span<byte> seedMask = stackalloc byte[HashLength];
        Mgf1(db, seedMask);
        var em = new byte[k];
        for (var i = 0; i < HashLength; i++) em[1 + i] = (byte)(seed[i] ^ seedMask[i]);
        db.CopyTo(em, 1 + HashLength);
        var c = new byte[k];
        return raw.TryApply(em, c) ? c : throw new CryptographicException("RSA input out of range");
    }

    /// <summary>MGF1 with SHA-256 (RFC 8017 §B.2.1), filling <paramref name="output"/>.</summary>
    private static void Mgf1(ReadOnlySpan<byte> seed, Span<byte> output)
    {
        Span<byte> input = stackalloc byte[seed.Length + 4];
        seed.CopyTo(input);
        Span<byte> digest = stackalloc byte[HashLength];
        for (uint counter = 0, done = 0; done < output.Length; counter++)
        {
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(input[seed.Length..], counter);
            SHA256.HashData(input, digest);
            var take = (int)Math.Min(HashLength, output.Length - done);
            digest[..take].CopyTo(output[(int)done..]);
            done += (uint)take;
        }
    }
}
