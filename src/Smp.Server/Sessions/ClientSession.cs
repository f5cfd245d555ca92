using System.Buffers;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Smp.Protocol.Smp;
using Smp.Protocol.Transport;

namespace Smp.Server.Sessions;

/// <summary>
/// One client connection: the handshake, then a read loop that runs commands in order and a write loop
/// that drains this client's outgoing blocks. Other sessions push MSG and END into the outgoing queue
/// without ever waiting; a client that lets it overflow, or takes no block within the write timeout,
/// is disconnected, so a slow client cannot hold up anyone else.
/// </summary>
internal sealed partial class ClientSession
{
    private readonly ServerState _state;
    private readonly Socket _socket;
    private readonly RSA _serverKey;
    private readonly byte[] _serverKeyDer;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _cts;
    private readonly Channel<Outgoing> _outgoing = Channel.CreateUnbounded<Outgoing>(new UnboundedChannelOptions { SingleReader = true });
    private readonly ArrayBufferWriter<byte> _signed = new(4096);
    private readonly SemaphoreSlim _drained = new(0, 1);
    private readonly HashSet<QueueRecord> _subscriptions = new(ReferenceEqualityComparer.Instance);
    private readonly int _capacity;
    private int _queued;
    private int _aborted;
    private SmpTransport? _transport;

    public ClientSession(ServerState state, Socket socket, RSA serverKey, byte[] serverKeyDer, CancellationToken serverToken)
    {
        _state = state;
        _socket = socket;
        _serverKey = serverKey;
        _serverKeyDer = serverKeyDer;
        _logger = state.SessionLogger;
        _capacity = state.Options.SendQueueCapacity;
        _cts = CancellationTokenSource.CreateLinkedTokenSource(serverToken);
    }

    /// <summary>Reserved for pushes from other sessions: our own replies stop the read loop earlier.</summary>
    private int ReadPauseLevel => _capacity / 2;

    public async Task RunAsync()
    {
        var ct = _cts.Token;
        var stream = new NetworkStream(_socket, ownsSocket: true);
        Task? writer = null;
        _state.Counters.Connected();
        try
        {
            using (var handshake = CancellationTokenSource.CreateLinkedTokenSource(ct))
            {
                handshake.CancelAfter(_state.Options.HandshakeTimeout);
                try
                {
                    _transport = await SmpTransport.AcceptAsync(stream, _serverKey, _serverKeyDer, Handshake.DefaultBlockSize, handshake.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                    _logger.LogDebug("handshake timed out");
                    return;
                }
            }
            writer = WriteLoopAsync(_transport, ct);
            await ReadLoopAsync(_transport, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (IsExpectedTeardown(e, ct))
        {
            _logger.LogDebug("connection closed: {Reason}", e.GetType().Name);
        }
        catch (Exception e)
        {
            _logger.LogError(e, "session failed");
        }
        finally
        {
            // Before Abort cancels ct: a handshake that did not finish while the server was not stopping failed.
            if (_transport is null && !ct.IsCancellationRequested) _state.Counters.HandshakeFailed();
            Abort();
            _outgoing.Writer.TryComplete();
            if (writer is not null)
            {
                try
                {
                    await writer.ConfigureAwait(false);
                }
                catch (Exception e) when (IsExpectedTeardown(e, ct))
                {
                }
            }
            Unsubscribe();
            if (_transport is not null) await _transport.DisposeAsync().ConfigureAwait(false);
            else await stream.DisposeAsync().ConfigureAwait(false);
            _cts.Dispose();
            _drained.Dispose();
            _state.Counters.Disconnected();
        }
    }

    private static bool IsExpectedTeardown(Exception e, CancellationToken ct) =>
        e is SmpTransportException or IOException or SocketException or ObjectDisposedException or ChannelClosedException
        || (e is OperationCanceledException && ct.IsCancellationRequested);

    private async Task ReadLoopAsync(SmpTransport transport, CancellationToken ct)
    {
        var plaintext = new byte[transport.BlockSize - BlockCipher.TagSize];
        while (!ct.IsCancellationRequested)
        {
            // Back-pressure on our own replies: stop reading while this client is behind.
            while (Volatile.Read(ref _queued) >= ReadPauseLevel) await _drained.WaitAsync(ct).ConfigureAwait(false);
            if (!await transport.ReadAsync(plaintext, ct).ConfigureAwait(false))
            {
                // smp-wire.md §2: a block that does not decrypt is answered, and the session goes on.
                Send(Encode([], [], new SmpCommand.Err(SmpErrorCode.Block)));
                continue;
            }
            // Bodies are slices of the plaintext buffer; Execute copies what it keeps before the next read.
            var t = SmpTransmissionCodec.ParseFromClient(plaintext, plaintext);
            Execute(t);
        }
    }

    private async Task WriteLoopAsync(SmpTransport transport, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var scratch = new ArrayBufferWriter<byte>(transport.BlockSize);
        try
        {
            await foreach (var item in _outgoing.Reader.ReadAllAsync(ct).ConfigureAwait(false))
            {
                ReadOnlyMemory<byte> transmission = item.Bytes;
                if (item.Command is { } command)
                {
                    scratch.ResetWrittenCount();
                    SmpTransmissionCodec.Write(scratch, null, item.CorrId, item.QueueId, command);
                    transmission = scratch.WrittenMemory;
                }
                timeout.CancelAfter(_state.Options.WriteTimeout);
                await transport.WriteAsync(transmission, timeout.Token).ConfigureAwait(false);
                if (!timeout.TryReset()) throw new OperationCanceledException(timeout.Token);
                if (Interlocked.Decrement(ref _queued) < ReadPauseLevel && _drained.CurrentCount == 0)
                {
                    try
                    {
                        _drained.Release();
                    }
                    catch (SemaphoreFullException)
                    {
                    }
                }
            }
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            _logger.LogDebug("client took no data within the write timeout; disconnecting");
        }
        finally
        {
            Abort();
        }
    }

    /// <summary>
    /// Queues one transmission for this client without waiting; may be called under a queue lock from any
    /// session. A full queue disconnects the client.
    /// </summary>
    public void Send(byte[] transmission) => Enqueue(new Outgoing(transmission, [], [], null));

    /// <summary>
    /// As <see cref="Send(byte[])"/>, for a reply the caller knows fits a block: the write loop serialises it
    /// into its own buffer, so a MSG body goes from the store to the cipher without a copy.
    /// </summary>
    public void Send(byte[] corrId, byte[] queueId, SmpCommand command) => Enqueue(new Outgoing(null, corrId, queueId, command));

    private void Enqueue(Outgoing item)
    {
        if (Volatile.Read(ref _aborted) != 0) return;
        if (Interlocked.Increment(ref _queued) > _capacity)
        {
            _logger.LogDebug("client send queue full; disconnecting");
            Abort();
            return;
        }
        if (!_outgoing.Writer.TryWrite(item)) Interlocked.Decrement(ref _queued);
    }

    /// <summary>Ends the session from any thread; cancellation callbacks run on the thread pool, never under the caller's locks.</summary>
    public void Abort()
    {
        if (Interlocked.Exchange(ref _aborted, 1) != 0) return;
        ThreadPool.UnsafeQueueUserWorkItem(static s =>
        {
            try
            {
                s._cts.Cancel();
            }
            catch (ObjectDisposedException)
            {
            }
        }, this, preferLocal: false);
    }

    /// <summary>Called with the queue locked.</summary>
    public void AddSubscription(QueueRecord q)
    {
        lock (_subscriptions) _subscriptions.Add(q);
    }

    /// <summary>Called with the queue locked.</summary>
    public void RemoveSubscription(QueueRecord q)
    {
        lock (_subscriptions) _subscriptions.Remove(q);
    }

    /// <summary>After the read loop ended: no new subscriptions can appear, so a snapshot is complete.</summary>
    private void Unsubscribe()
    {
        QueueRecord[] queues;
        lock (_subscriptions)
        {
            queues = [.. _subscriptions];
            _subscriptions.Clear();
        }
        foreach (var q in queues)
        {
            lock (q)
            {
                if (q.Subscriber != this) continue;
                q.Subscriber = null;
                q.Delivered = false;
            }
        }
    }

    /// <summary>The bytes <paramref name="t"/>'s signature covers, in this session's buffer (valid until the next call).</summary>
    private ReadOnlySpan<byte> SignedPart(SmpTransmission t)
    {
        _signed.ResetWrittenCount();
        t.WriteSignedBytes(_signed);
        return _signed.WrittenSpan;
    }

    /// <summary>A transmission for the write loop: <see cref="Bytes"/> made already, or <see cref="Command"/> to serialise.</summary>
    private readonly record struct Outgoing(byte[]? Bytes, byte[] CorrId, byte[] QueueId, SmpCommand? Command);

    /// <summary>A server transmission: empty signature, so it starts with SP (server-ref.md §2).</summary>
    internal static byte[] Encode(ReadOnlySpan<byte> corrId, ReadOnlySpan<byte> queueId, SmpCommand command) =>
        SmpTransmissionCodec.ToBytes(null, corrId, queueId, command);
}
