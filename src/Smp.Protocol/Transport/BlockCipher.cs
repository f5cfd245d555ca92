using System.Buffers.Binary;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Modes;
using Org.BouncyCastle.Crypto.Parameters;

namespace Smp.Protocol.Transport;

/// <summary>
/// One direction of an SMP transport (smp-wire.md §2): AES-256-GCM keyed once, the IV of block n is the
/// base IV with its first four bytes XOR-ed with n (big-endian), and a block is tag(16) ‖ ciphertext of the
/// transmission padded with '#' to blockSize-16. The counter advances even when a block fails to decrypt,
/// as the reference does, so one bad block does not desynchronise the stream.
/// </summary>
public sealed class BlockCipher
{
    public const int TagSize = 16;
    public const byte Pad = (byte)'#';

    private readonly KeyParameter _key;
    private readonly byte[] _baseIv;
    private readonly GcmBlockCipher _gcm = new(AesUtilities.CreateEngine());
    private readonly byte[] _work;
    private readonly byte[] _io;
    private readonly byte[] _iv = new byte[16];
    private uint _counter;

    public BlockCipher(ReadOnlySpan<byte> key, ReadOnlySpan<byte> baseIv, int blockSize, uint counter = 0)
    {
        if (key.Length != 32) throw new ArgumentException("key must be 32 bytes", nameof(key));
        if (baseIv.Length != 16) throw new ArgumentException("IV must be 16 bytes", nameof(baseIv));
        _key = new KeyParameter(key.ToArray());
        _baseIv = baseIv.ToArray();
        BlockSize = blockSize;
        // Two scratch blocks, so a block costs no allocation but BouncyCastle's small parameter objects.
        _work = new byte[blockSize];
        _io = new byte[blockSize];
        _counter = counter;
    }

    public int BlockSize { get; }

    /// <summary>Decrypted size of a block, padding included.</summary>
    public int MaxPlaintext => BlockSize - TagSize;

    /// <summary>
    /// Largest transmission we send: the reference refuses to encrypt one without at least one '#',
    /// so it may expect one too.
    /// </summary>
    public int MaxTransmission => BlockSize - TagSize - 1;

    public uint Counter => _counter;

    public static byte[] IvFor(ReadOnlySpan<byte> baseIv, uint counter)
    {
        var iv = new byte[baseIv.Length];
        IvFor(baseIv, counter, iv);
        return iv;
    }

    private static void IvFor(ReadOnlySpan<byte> baseIv, uint counter, Span<byte> iv)
    {
        baseIv.CopyTo(iv);
        BinaryPrimitives.WriteUInt32BigEndian(iv, BinaryPrimitives.ReadUInt32BigEndian(iv) ^ counter);
    }

    /// <summary>Keys the cipher for the next block; the IV array is copied by the GCM implementation.</summary>
    private void InitNext(bool forEncryption)
    {
        IvFor(_baseIv, _counter++, _iv);
        _gcm.Init(forEncryption, new AeadParameters(_key, TagSize * 8, _iv));
    }

    /// <summary>Pads and encrypts one transmission into <paramref name="block"/> (exactly BlockSize bytes).</summary>
    public void Encrypt(ReadOnlySpan<byte> transmission, Span<byte> block)
    {
        if (transmission.Length > MaxPlaintext) throw new ArgumentException("transmission does not fit a block", nameof(transmission));
        if (block.Length != BlockSize) throw new ArgumentException("block must be BlockSize bytes", nameof(block));
        var plain = _work.AsSpan(0, MaxPlaintext);
        transmission.CopyTo(plain);
        plain[transmission.Length..].Fill(Pad);
        InitNext(true);
        var output = _io;
        var n = _gcm.ProcessBytes(plain, output);
        _gcm.DoFinal(output.AsSpan(n));
        // BouncyCastle appends the tag; the wire puts it first.
        output.AsSpan(MaxPlaintext, TagSize).CopyTo(block);
        output.AsSpan(0, MaxPlaintext).CopyTo(block[TagSize..]);
    }

    /// <summary>Decrypts one block into <paramref name="plaintext"/> (BlockSize-16 bytes, padding included).</summary>
    public bool TryDecrypt(ReadOnlySpan<byte> block, Span<byte> plaintext)
    {
        if (block.Length != BlockSize) throw new ArgumentException("block must be BlockSize bytes", nameof(block));
        if (plaintext.Length < MaxPlaintext) throw new ArgumentException("plaintext buffer too small", nameof(plaintext));
        var input = _io;
        block[TagSize..].CopyTo(input);
        block[..TagSize].CopyTo(input.AsSpan(MaxPlaintext));
        InitNext(false);
        try
        {
            var n = _gcm.ProcessBytes(input, _work);
            _gcm.DoFinal(_work.AsSpan(n));
        }
        catch (InvalidCipherTextException)
        {
            return false;
        }
        _work.AsSpan(0, MaxPlaintext).CopyTo(plaintext);
        return true;
    }

    /// <summary>The transmission inside a decrypted block: everything before the trailing '#' padding.</summary>
    public static ReadOnlySpan<byte> Unpad(ReadOnlySpan<byte> plaintext) => plaintext.TrimEnd(Pad);
}
