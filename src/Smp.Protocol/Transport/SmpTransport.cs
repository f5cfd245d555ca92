using System.Buffers;
using System.IO.Pipelines;
using System.Security.Cryptography;
using Smp.Protocol.Crypto;

namespace Smp.Protocol.Transport;

/// <summary>
/// An established SMP transport over a stream: fixed-size encrypted blocks in both directions
/// (smp-wire.md §2). One task may read and one task may write at a time; callers serialise.
/// </summary>
public sealed class SmpTransport : IAsyncDisposable
{
    private readonly Stream _stream;
    private readonly PipeReader _reader;
    private readonly BlockCipher _send;
    private readonly BlockCipher _receive;
    private readonly byte[] _sendBlock;
    private readonly byte[] _receiveBlock;

    private SmpTransport(Stream stream, PipeReader reader, BlockCipher send, BlockCipher receive)
    {
        _stream = stream;
        _reader = reader;
        _send = send;
        _receive = receive;
        _sendBlock = new byte[send.BlockSize];
        _receiveBlock = new byte[receive.BlockSize];
    }

    public int BlockSize => _send.BlockSize;

    /// <summary>
    /// Room for two blocks, and a new segment whenever less than a block is free: after the odd-sized handshake
    /// a block then lands in one segment, read by one call when it has all arrived, and is decrypted where it
    /// lies. With the default 4 KiB segments every block straddled two (two reads and a copy per block).
    /// </summary>
    private static readonly StreamPipeReaderOptions ReaderOptions = new(
        bufferSize: 2 * Handshake.DefaultBlockSize, minimumReadSize: Handshake.DefaultBlockSize, leaveOpen: true);

    /// <summary>Largest transmission that fits one block.</summary>
    public int MaxTransmission => _send.MaxTransmission;

    /// <summary>Server side: header out, session keys in, welcome block out.</summary>
    public static async Task<SmpTransport> AcceptAsync(Stream stream, RSA serverKey, byte[] serverKeyDer, int blockSize, CancellationToken ct)
    {
        await stream.WriteAsync(Handshake.EncodeServerHeader(blockSize, serverKeyDer), ct).ConfigureAwait(false);
        await stream.FlushAsync(ct).ConfigureAwait(false);
        var reader = PipeReader.Create(stream, ReaderOptions);
        var encrypted = await ReadExactlyAsync(reader, serverKey.KeySize / 8, ct).ConfigureAwait(false);
        if (!SmpRsa.TryDecrypt(serverKey, encrypted, out var plain))
            throw new SmpTransportException(TransportError.Handshake, "client keys do not decrypt");
        // The reference server ignores the block size the client echoes and keeps its own (server-ref.md §6).
        var keys = Handshake.DecodeClientKeys(plain, out _);
        var t = new SmpTransport(stream, reader,
            send: new BlockCipher(keys.RcvKey, keys.RcvIv, blockSize),
            receive: new BlockCipher(keys.SndKey, keys.SndIv, blockSize));
        await t.WriteAsync(Handshake.Welcome.ToArray(), ct).ConfigureAwait(false);
        return t;
    }

    /// <summary>Client side: header in (key hash checked), session keys out, welcome in.</summary>
    public static async Task<SmpTransport> ConnectAsync(Stream stream, byte[]? keyHash, CancellationToken ct)
    {
        var reader = PipeReader.Create(stream, ReaderOptions);
        var header = await ReadExactlyAsync(reader, Handshake.HeaderSize, ct).ConfigureAwait(false);
        Handshake.DecodeServerHeader(header, out var blockSize, out var keyLength);
        var serverKeyDer = await ReadExactlyAsync(reader, keyLength, ct).ConfigureAwait(false);
        if (keyHash is not null && !CryptographicOperations.FixedTimeEquals(SmpRsa.KeyHash(serverKeyDer), keyHash))
            throw new SmpTransportException(TransportError.BadKeyHash);
        if (!SmpRsa.TryImportPublicKey(serverKeyDer, out var serverKey))
            throw new SmpTransportException(TransportError.Handshake, "server key is not an RSA key");
        var keys = SessionKeys.Generate();
        byte[] encrypted;
        using (serverKey) encrypted = serverKey!.Encrypt(Handshake.EncodeClientKeys(blockSize, keys));
        await stream.WriteAsync(encrypted, ct).ConfigureAwait(false);
        await stream.FlushAsync(ct).ConfigureAwait(false);
        var t = new SmpTransport(stream, reader,
            send: new BlockCipher(keys.SndKey, keys.SndIv, blockSize),
            receive: new BlockCipher(keys.RcvKey, keys.RcvIv, blockSize));
        var welcome = new byte[t._receive.MaxPlaintext];
        if (!await t.ReadAsync(welcome, ct).ConfigureAwait(false))
            throw new SmpTransportException(TransportError.Handshake, "welcome does not decrypt");
        Handshake.DecodeWelcome(welcome);
        return t;
    }

    /// <summary>Encrypts one transmission into a block and writes it.</summary>
    public async ValueTask WriteAsync(ReadOnlyMemory<byte> transmission, CancellationToken ct)
    {
        if (transmission.Length > MaxTransmission) throw new SmpTransportException(TransportError.Large);
        _send.Encrypt(transmission.Span, _sendBlock);
        await _stream.WriteAsync(_sendBlock, ct).ConfigureAwait(false);
        await _stream.FlushAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Test hook: encrypts a block as usual, then corrupts its tag, so both ends' counters still advance.</summary>
    internal async ValueTask WriteTamperedAsync(ReadOnlyMemory<byte> transmission, CancellationToken ct)
    {
        _send.Encrypt(transmission.Span, _sendBlock);
        _sendBlock[0] ^= 0xff;
        await _stream.WriteAsync(_sendBlock, ct).ConfigureAwait(false);
        await _stream.FlushAsync(ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Reads one block and decrypts it into <paramref name="plaintext"/> (at least MaxTransmission bytes,
    /// '#' padding included). False when the block does not decrypt; the stream stays usable.
    /// Throws <see cref="SmpTransportException"/> with Closed when the peer goes away.
    /// </summary>
    public async ValueTask<bool> ReadAsync(Memory<byte> plaintext, CancellationToken ct)
    {
        while (true)
        {
            var result = await _reader.ReadAsync(ct).ConfigureAwait(false);
            var buffer = result.Buffer;
            if (BlockFramer.TryReadBlock(ref buffer, BlockSize, out var block))
            {
                bool decrypted;
                if (block.IsSingleSegment)
                {
                    decrypted = _receive.TryDecrypt(block.FirstSpan, plaintext.Span);
                }
                else
                {
                    block.CopyTo(_receiveBlock);
                    decrypted = _receive.TryDecrypt(_receiveBlock, plaintext.Span);
                }
                _reader.AdvanceTo(buffer.Start);
                return decrypted;
            }
            _reader.AdvanceTo(buffer.Start, buffer.End);
            if (result.IsCompleted || result.IsCanceled) throw new SmpTransportException(TransportError.Closed);
        }
    }

    private static async Task<byte[]> ReadExactlyAsync(PipeReader reader, int count, CancellationToken ct)
    {
        while (true)
        {
            var result = await reader.ReadAsync(ct).ConfigureAwait(false);
            var buffer = result.Buffer;
            if (BlockFramer.TryReadBlock(ref buffer, count, out var block))
            {
                var bytes = block.ToArray();
                reader.AdvanceTo(buffer.Start);
                return bytes;
            }
            reader.AdvanceTo(buffer.Start, buffer.End);
            if (result.IsCompleted || result.IsCanceled) throw new SmpTransportException(TransportError.Closed, "handshake cut short");
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _reader.CompleteAsync().ConfigureAwait(false);
        await _stream.DisposeAsync().ConfigureAwait(false);
    }
}

/// <summary>Framing of fixed-size blocks: a pure function over the buffered bytes.</summary>
public static class BlockFramer
{
    /// <summary>
    /// Takes one block of <paramref name="size"/> bytes off the front of <paramref name="buffer"/> and
    /// returns true, leaving the rest in <paramref name="buffer"/>; false when more data is needed.
    /// </summary>
    public static bool TryReadBlock(ref ReadOnlySequence<byte> buffer, int size, out ReadOnlySequence<byte> block)
    {
        if (buffer.Length < size)
        {
            block = default;
            return false;
        }
        block = buffer.Slice(0, size);
        buffer = buffer.Slice(size);
        return true;
    }
}
