using System.Security.Cryptography;
using NumericsBigInteger = System.Numerics.BigInteger;

namespace Smp.Protocol.Crypto;

/// <summary>
/// RSA public-key operations of RFC 8017 for keys the BCL cannot take (huge public exponents): RSASSA-PSS
/// verification (§8.1.2, EMSA-PSS-VERIFY §9.1.2) and RSAES-OAEP encryption (§7.1.1), both with SHA-256,
/// MGF1-SHA-256, a 32-byte salt and an empty label, as SMP uses them. Only public data is handled here,
/// so no constant-time care is needed.
/// </summary>
internal static class RsaPublicOps
{
    private const int HashLength = 32;
    private const int SaltLength = 32;

    public static bool VerifyPss(NumericsBigInteger n, NumericsBigInteger e, int modulusBits, ReadOnlySpan<byte> message, ReadOnlySpan<byte> signature)
    {
        var s = new NumericsBigInteger(signature, isUnsigned: true, isBigEndian: true);
        if (s >= n) return false;
        var emBits = modulusBits - 1;
        var emLength = (emBits + 7) / 8;
        var em = ToFixed(NumericsBigInteger.ModPow(s, e, n), emLength);
        if (em is null || emLength < HashLength + SaltLength + 2 || em[^1] != 0xbc) return false;
        var dbLength = emLength - HashLength - 1;
        var h = em.AsSpan(dbLength, HashLength);
        var unusedBits = 8 * emLength - emBits;
        var topMask = (byte)(0xff >> unusedBits);
        if ((em[0] & ~topMask) != 0) return false;
        var db = Mgf1(h, dbLength);
        for (var i = 0; i < dbLength; i++) db[i] ^= em[i];
        db[0] &= topMask;
        var psLength = emLength - HashLength - SaltLength - 2;
        if (db.AsSpan(0, psLength).ContainsAnyExcept((byte)0) || db[psLength] != 0x01) return false;
        Span<byte> mPrime = stackalloc byte[8 + HashLength + SaltLength];
        mPrime[..8].Clear();
        SHA256.HashData(message, mPrime.Slice(8, HashLength));
        db.AsSpan(dbLength - SaltLength).CopyTo(mPrime[(8 + HashLength)..]);
        return SHA256.HashData(mPrime).AsSpan().SequenceEqual(h);
    }

    public static byte[] EncryptOaep(NumericsBigInteger n, NumericsBigInteger e, int k, ReadOnlySpan<byte> message)
    {
        if (message.Length > k - 2 * HashLength - 2) throw new CryptographicException("message too long for RSA-OAEP");
        var db = new byte[k - HashLength - 1];
        SHA256.HashData(ReadOnlySpan<byte>.Empty, db.AsSpan(0, HashLength));
        db[^(message.Length + 1)] = 0x01;
        message.CopyTo(db.AsSpan(db.Length - message.Length));
        var seed = RandomNumberGenerator.GetBytes(HashLength);
        var dbMask = Mgf1(seed, db.Length);
        for (var i = 0; i < db.Length; i++) db[i] ^= dbMask[i];
        var seedMask = Mgf1(db, HashLength);
        var em = new byte[k];
        for (var i = 0; i < HashLength; i++) em[1 + i] = (byte)(seed[i] ^ seedMask[i]);
        db.CopyTo(em, 1 + HashLength);
        var c = NumericsBigInteger.ModPow(new NumericsBigInteger(em, isUnsigned: true, isBigEndian: true), e, n);
        return ToFixed(c, k) ?? throw new CryptographicException("RSA result longer than the modulus");
    }

    /// <summary>MGF1 with SHA-256 (RFC 8017 §B.2.1).</summary>
    private static byte[] Mgf1(ReadOnlySpan<byte> seed, int length)
    {
        var output = new byte[length];
        var input = new byte[seed.Length + 4];
        seed.CopyTo(input);
        Span<byte> digest = stackalloc byte[HashLength];
        for (uint counter = 0, done = 0; done < length; counter++)
        {
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(input.AsSpan(seed.Length), counter);
            SHA256.HashData(input, digest);
            var take = (int)Math.Min(HashLength, length - done);
            digest[..take].CopyTo(output.AsSpan((int)done));
            done += (uint)take;
        }
        return output;
    }

    /// <summary>I2OSP: big-endian, left-padded to <paramref name="length"/>; null when it does not fit.</summary>
    private static byte[]? ToFixed(NumericsBigInteger value, int length)
    {
        var bytes = value.ToByteArray(isUnsigned: true, isBigEndian: true);
        if (bytes.Length > length) return null;
        if (bytes.Length == length) return bytes;
        var output = new byte[length];
        bytes.CopyTo(output, length - bytes.Length);
        return output;
    }
}
