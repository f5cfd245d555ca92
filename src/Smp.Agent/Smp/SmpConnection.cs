using System.Buffers.Text;
using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Smp.Protocol.Encodings;
using Smp.Protocol.Smp;
using Smp.Protocol.Transport;

namespace Smp.Agent.Smp;

/// <summary>
/// One TCP connection to one SMP server (smp-wire.md §2–§5). Requests from any number of callers are
/// signed on the caller's thread, queued to a single writer loop and correlated with their responses by
/// corrId, a decimal counter from 1 as in the reference. A single reader loop completes requests and hands
/// everything else to the <see cref="ISmpConnectionListener"/>.
/// <para>
/// MSG routing: every MSG goes to <see cref="ISmpConnectionListener.OnPush"/>, whether pushed or answering
/// SUB/ACK; a SUB or ACK answered by MSG completes with OK. So the agent sees each MSG exactly once, through
/// one path, and the MSG is handed over before the SUB/ACK that fetched it returns.
/// </para>
/// </summary>
public sealed partial class SmpConnection : IAsyncDisposable
{
    /// <summary>Longest corrId we assume a recipient's client uses when its MSG answers a SUB/ACK (a 64-bit counter).</summary>
    private const int AssumedCorrIdLength = 20;

    /// <summary>Longest recipient id we assume, in b64: 24 bytes (the reference uses 12).</summary>
    private const int AssumedRecipientIdText = 32;

    /// <summary>The fixed part of <c>SP corrId SP rid SP "MSG" SP msgId SP ts SP size SP body SP SP</c> (server-ref.md §2).</summary>
    private const int MsgFixedOverhead = 1 + 1 + 1 + 3 + 1 + 8 + 1 + 24 + 1 + 1 + 1 + 1;

    private readonly TcpClient _tcp;
    private readonly SmpTransport _transport;
    private readonly SmpClientOptions _options;
    private readonly ISmpConnectionListener? _listener;
    private readonly ILogger _logger;
    private readonly Channel<byte[]> _writes = Channel.CreateUnbounded<byte[]>(new UnboundedChannelOptions { SingleReader = true });
    private readonly ConcurrentDictionary<long, PendingRequest> _pending = new();
    private readonly CancellationTokenSource _cts = new();
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Task _writeLoop;
    private readonly Task _pingLoop;
    private readonly Task _readLoop;
    private long _lastCorrId;
    private int _closed;

    private SmpConnection(SmpServerAddress server, TcpClient tcp, SmpTransport transport, SmpClientOptions options, ISmpConnectionListener? listener)
    {
        Server = server;
        _tcp = tcp;
        _transport = transport;
        _options = options;
        _listener = listener;
        _logger = options.LoggerFactory.CreateLogger<SmpConnection>();
        MaxBodySize = MaxBodySizeFor(transport.BlockSize);
        _writeLoop = WriteLoopAsync();
        _pingLoop = PingLoopAsync();
        _readLoop = ReadLoopAsync();
    }

    public SmpServerAddress Server { get; }

    public int BlockSize => _transport.BlockSize;

    /// <summary>
    /// Largest SEND body this client sends: the server's MSG carrying it must still fit one block, because
    /// the reference server silently drops a MSG that does not and its stream then desynchronises
    /// (server-ref.md §2). Computed for a 20-character corrId and 24-byte recipient id on the receiving side.
    /// </summary>
    public int MaxBodySize { get; }

    public bool IsOpen => Volatile.Read(ref _closed) == 0;

    /// <summary>Completes when the connection has ended and its resources are released.</summary>
    public Task Completion => _completion.Task;

    public static int MaxBodySizeFor(int blockSize)
    {
        var room = blockSize - BlockCipher.TagSize - 1 - MsgFixedOverhead - AssumedCorrIdLength - AssumedRecipientIdText;
        var body = room - 1;
        while (body + DecimalDigits(body) > room) body--;
        return body;
    }

    private static int DecimalDigits(int n) => n < 10 ? 1 : n < 100 ? 2 : n < 1000 ? 3 : n < 10000 ? 4 : n < 100000 ? 5 : 6;

    /// <summary>
    /// Connects and runs the transport handshake, checking the server key against the address's key hash.
    /// Failure to connect (or a timeout) is NETWORK; a handshake the server gets wrong is TRANSPORT.
    /// </summary>
    public static async Task<SmpConnection> ConnectAsync(SmpServerAddress server, SmpClientOptions? options = null,
        ISmpConnectionListener? listener = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(server);
        options ??= new SmpClientOptions();
        options.Validate();
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(options.ConnectTimeout);
        var tcp = new TcpClient { NoDelay = true };
        try
        {
            await tcp.ConnectAsync(server.Host, server.EffectivePort, deadline.Token).ConfigureAwait(false);
            var transport = await SmpTransport.ConnectAsync(tcp.GetStream(), server.KeyHash, deadline.Token).ConfigureAwait(false);
            return new SmpConnection(server, tcp, transport, options, listener);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            tcp.Dispose();
            throw new SmpClientException(SmpClientError.Network, $"connecting to {server} timed out");
        }
        catch (SmpTransportException e) when (e.Error != TransportError.Closed)
        {
            tcp.Dispose();
            throw new SmpClientException(SmpClientError.Transport(e.Error), $"handshake with {server} failed", e);
        }
        catch (Exception e) when (e is SocketException or IOException or SmpTransportException)
        {
            tcp.Dispose();
            throw new SmpClientException(SmpClientError.Network, $"connecting to {server} failed", e);
        }
        catch
        {
            tcp.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Sends one command and waits for its response: IDS for NEW, PONG for PING, OK for the rest (a MSG
    /// answering SUB/ACK is handed to the listener and reported here as OK). <c>ERR e</c> throws SMP e.
    /// The transmission is signed with <paramref name="key"/> when given.
    /// </summary>
    public async Task<SmpCommand> RequestAsync(RSA? key, ReadOnlyMemory<byte> queueId, SmpCommand command, CancellationToken ct = default) =>
        await StartRequest(key, queueId, command, ct).ConfigureAwait(false);

    /// <summary>
    /// As <see cref="RequestAsync"/>, but the command is signed and queued for writing before this returns, so
    /// commands started one after another go out in that order without waiting for each other's answers
    /// (pipelining, each with its own corrId). A refusal before queueing (closed, too large) throws here.
    /// </summary>
    public Task<SmpCommand> StartRequest(RSA? key, ReadOnlyMemory<byte> queueId, SmpCommand command, CancellationToken ct = default) =>
        Submit(Prepare(key, queueId, command), ct);

    /// <summary>
    /// Signs a command with its corrId now, to be sent later by <see cref="Submit"/> (the signature is the
    /// expensive part; a prepared command that is never submitted costs only its corrId).
    /// </summary>
    public SmpPreparedCommand Prepare(RSA? key, ReadOnlyMemory<byte> queueId, SmpCommand command)
    {
        ArgumentNullException.ThrowIfNull(command);
        if (command is SmpCommand.Send send && send.Body.Length > MaxBodySize)
            throw new SmpClientException(SmpClientError.Large, $"body of {send.Body.Length} bytes exceeds {MaxBodySize}");
        if (!IsOpen) throw new SmpClientException(SmpClientError.Network, $"connection to {Server} is closed");

        var corrId = Interlocked.Increment(ref _lastCorrId);
        Span<byte> corrText = stackalloc byte[20];
        Utf8Formatter.TryFormat(corrId, corrText, out var corrLength);
        var transmission = SmpTransmissionCodec.ToBytes(key, corrText[..corrLength], queueId.Span, command);
        if (transmission.Length > _transport.MaxTransmission)
            throw new SmpClientException(SmpClientError.Large, $"transmission of {transmission.Length} bytes exceeds a block");
        return new SmpPreparedCommand(this, corrId, command.Kind, queueId.ToArray(), transmission);
    }

    /// <summary>Queues a prepared command for writing and returns its answer to come; it is sent on the connection that prepared it.</summary>
    public Task<SmpCommand> Submit(SmpPreparedCommand prepared, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(prepared);
        if (prepared.Connection != this) throw new ArgumentException("prepared on another connection", nameof(prepared));
        var request = new PendingRequest(prepared.Kind, prepared.QueueId);
        _pending[prepared.CorrId] = request;
        // Close sets _closed before it fails what is pending, so a request either sees _closed here or is failed there.
        if (!IsOpen || !_writes.Writer.TryWrite(prepared.Transmission))
        {
            _pending.TryRemove(prepared.CorrId, out _);
            throw new SmpClientException(SmpClientError.Network, $"connection to {Server} is closed");
        }
        return AnswerAsync(prepared.CorrId, request, prepared.Kind, ct);
    }

    private async Task<SmpCommand> AnswerAsync(long corrId, PendingRequest request, SmpCommandKind kind, CancellationToken ct)
    {
        try
        {
            return await request.Task.WaitAsync(_options.RequestTimeout, ct).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // A late answer then matches nothing: a MSG still reaches the listener, anything else is dropped.
            _pending.TryRemove(corrId, out _);
            throw new SmpClientException(SmpClientError.Timeout, $"{kind} to {Server} got no response in {_options.RequestTimeout}") { MayHaveArrived = true };
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            _pending.TryRemove(corrId, out _);
            throw;
        }
    }

    /// <summary>Ends the connection: pending requests fail with NETWORK, the listener gets OnClosed(null).</summary>
    public async ValueTask DisposeAsync()
    {
        Close(null);
        await _completion.Task.ConfigureAwait(false);
    }

    /// <summary>Idempotent teardown; the reader loop's finally releases the transport once all loops have stopped.</summary>
    private void Close(SmpClientError? reason)
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0) return;
        _writes.Writer.TryComplete();
        _cts.Cancel();
        _tcp.Dispose();
        foreach (var corrId in _pending.Keys)
        {
            if (_pending.TryRemove(corrId, out var request))
                request.Fail(SmpClientError.Network, $"connection to {Server} closed");
        }
        _listener?.OnClosed(this, reason);
    }

    private sealed class PendingRequest(SmpCommandKind kind, byte[] queueId)
    {
        private readonly TaskCompletionSource<SmpCommand> _tcs = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public SmpCommandKind Kind { get; } = kind;
        public byte[] QueueId { get; } = queueId;
        public Task<SmpCommand> Task => _tcs.Task;

        public void Succeed(SmpCommand response) => _tcs.TrySetResult(response);

        /// <summary>Fails a request that was queued for writing, so it may have reached the server.</summary>
        public void Fail(SmpClientError error, string? detail = null) => _tcs.TrySetException(new SmpClientException(error, detail) { MayHaveArrived = true });
    }
}

/// <summary>A command signed for one connection, not sent yet (see <see cref="SmpConnection.Prepare"/>).</summary>
public sealed class SmpPreparedCommand
{
    internal SmpPreparedCommand(SmpConnection connection, long corrId, SmpCommandKind kind, byte[] queueId, byte[] transmission)
    {
        Connection = connection;
        CorrId = corrId;
        Kind = kind;
        QueueId = queueId;
        Transmission = transmission;
    }

    internal SmpConnection Connection { get; }
    internal long CorrId { get; }
    internal SmpCommandKind Kind { get; }
    internal byte[] QueueId { get; }
    internal byte[] Transmission { get; }

    /// <summary>Sends it and waits for the answer, as <see cref="SmpConnection.RequestAsync"/> does.</summary>
    public async Task SendAsync(CancellationToken ct = default) => await Connection.Submit(this, ct).ConfigureAwait(false);
}
