using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Smp.Protocol.Crypto;
using Smp.Protocol.Encodings;
using Smp.Protocol.Smp;
using Smp.Protocol.Transport;

namespace Smp.Agent.Smp;

/// <summary>The ids of a queue just created: the recipient's and the one to give senders.</summary>
public sealed record SmpQueueIds(byte[] RecipientId, byte[] SenderId);

/// <summary>SENDs pipelined on one connection (see <see cref="SmpClientPool.SenderAsync"/>).</summary>
public sealed class SmpSender
{
    private readonly SmpConnection _connection;

    internal SmpSender(SmpConnection connection) => _connection = connection;

    /// <summary>
    /// Signs and queues one SEND (unsigned when <paramref name="senderKey"/> is null) and returns its answer to
    /// come; the key is not used after this returns. A SEND refused before it was queued throws here.
    /// </summary>
    public Task StartSend(byte[] senderId, RSA? senderKey, ReadOnlyMemory<byte> body, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(senderId);
        return _connection.StartRequest(senderKey, senderId, new SmpCommand.Send(body), ct);
    }
}

/// <summary>
/// The agent's view of its SMP servers: at most one <see cref="SmpConnection"/> per server address,
/// connected on first use, typed queue operations, and one stream of <see cref="SmpClientEvent"/>s.
/// <para>
/// Failure policy. After an established connection is lost the pool emits <see cref="SmpClientEvent.ServerDown"/>
/// once and reconnects with jittered exponential back-off; once connected it re-sends SUB for every recorded
/// subscription of that server and then emits <see cref="SmpClientEvent.ServerUp"/>. While a server is down,
/// calls to it fail at once with BROKER NETWORK rather than wait: the agent keeps its own outbox and retries
/// after ServerUp. A first connection that cannot be made also fails with NETWORK (or TRANSPORT) and is
/// tried again by the next call; if that call was a SUB, the server is treated as lost (ServerDown, then
/// the reconnect loop), since nothing else would make the subscription.
/// </para>
/// <para>
/// Subscriptions. A queue is recorded as subscribed when it is created (the server subscribes the creating
/// connection) and when SUB is sent; it is dropped when the server refuses SUB with ERR, sends END, or the
/// queue is deleted, and by <see cref="Unsubscribe"/>. The pool keeps a reference to the recipient key: do
/// not dispose it while the queue is subscribed.
/// </para>
/// </summary>
public sealed partial class SmpClientPool : IAsyncDisposable, ISmpConnectionListener
{
    private readonly SmpClientOptions _options;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<SmpServerAddress, ServerEntry> _servers = new();
    private readonly Channel<SmpClientEvent> _events = Channel.CreateUnbounded<SmpClientEvent>();
    private readonly CancellationTokenSource _disposeCts = new();
    private int _disposed;

    public SmpClientPool(SmpClientOptions? options = null)
    {
        _options = options ?? new SmpClientOptions();
        _options.Validate();
        _logger = _options.LoggerFactory.CreateLogger<SmpClientPool>();
    }

    /// <summary>Messages, ENDs, server down/up and unsolicited errors, in the order they happened per server. Completed on dispose.</summary>
    public ChannelReader<SmpClientEvent> Events => _events.Reader;

    /// <summary>Largest body <see cref="SendAsync"/> accepts on any server (block sizes are at least 4096).</summary>
    public static int MaxBodySize { get; } = SmpConnection.MaxBodySizeFor(Handshake.MinBlockSize);

    /// <summary>NEW, signed with the recipient key it carries; the creating connection is subscribed to the queue.</summary>
    public async Task<SmpQueueIds> CreateQueueAsync(SmpServerAddress server, RSA recipientKey, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(recipientKey);
        var (entry, connection) = await ConnectionAsync(server, ct).ConfigureAwait(false);
        var response = await connection.RequestAsync(recipientKey, default, new SmpCommand.New(SmpRsa.ExportPublicKey(recipientKey)), ct).ConfigureAwait(false);
        var ids = (SmpCommand.Ids)response;
        entry.Subscriptions[SubscriptionKey(ids.RecipientId)] = new Subscription(ids.RecipientId, recipientKey.ExportPkcs8PrivateKey());
        return new SmpQueueIds(ids.RecipientId, ids.SenderId);
    }

    /// <summary>SUB. A waiting message arrives as a <see cref="SmpClientEvent.Message"/> before this returns.</summary>
    public async Task SubscribeAsync(SmpServerAddress server, byte[] recipientId, RSA recipientKey, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(recipientId);
        ArgumentNullException.ThrowIfNull(recipientKey);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var entry = _servers.GetOrAdd(server, a => new ServerEntry(a));
        var key = SubscriptionKey(recipientId);
        var subscription = new Subscription(recipientId, recipientKey.ExportPkcs8PrivateKey());
        // Recorded before connecting, so a server that is down now, or a connection lost before the answer,
        // still gets the queue subscribed by the reconnect loop.
        entry.Subscriptions[key] = subscription;
        SmpConnection connection;
        try
        {
            (_, connection) = await ConnectionAsync(server, ct).ConfigureAwait(false);
        }
        catch (SmpClientException e)
        {
            if (SmpErrorPolicy.IsPassing(e.Error)) StartReconnecting(entry);
            else entry.Subscriptions.TryRemove(new KeyValuePair<string, Subscription>(key, subscription));
            throw;
        }
        try
        {
            await connection.RequestAsync(recipientKey, recipientId, SmpCommand.SubCommand, ct).ConfigureAwait(false);
        }
        catch (SmpClientException e) when (!SmpErrorPolicy.IsPassing(e.Error))
        {
            entry.Subscriptions.TryRemove(new KeyValuePair<string, Subscription>(key, subscription));
            throw;
        }
    }

    /// <summary>KEY: from now on SEND must be signed with the sender key (DER SubjectPublicKeyInfo).</summary>
    public Task SecureQueueAsync(SmpServerAddress server, byte[] recipientId, RSA recipientKey, byte[] senderKeyDer, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(senderKeyDer);
        return RecipientCommandAsync(server, recipientId, recipientKey, new SmpCommand.Key(senderKeyDer), ct);
    }

    /// <summary>ACK. The next waiting message, if any, arrives as a <see cref="SmpClientEvent.Message"/> before this returns.</summary>
    public Task AckAsync(SmpServerAddress server, byte[] recipientId, RSA recipientKey, CancellationToken ct = default) =>
        RecipientCommandAsync(server, recipientId, recipientKey, SmpCommand.AckCommand, ct);

    /// <summary>
    /// ACK signed now on the server's current connection, sent by <see cref="SmpPreparedCommand.SendAsync"/>:
    /// the signature can be made while the message is still being applied. NETWORK while the server is down.
    /// </summary>
    public async Task<SmpPreparedCommand> PrepareAckAsync(SmpServerAddress server, byte[] recipientId, RSA recipientKey, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(recipientId);
        ArgumentNullException.ThrowIfNull(recipientKey);
        var (_, connection) = await ConnectionAsync(server, ct).ConfigureAwait(false);
        return connection.Prepare(recipientKey, recipientId, SmpCommand.AckCommand);
    }

    /// <summary>OFF: senders get ERR AUTH from now on; the subscription stays.</summary>
    public Task SuspendAsync(SmpServerAddress server, byte[] recipientId, RSA recipientKey, CancellationToken ct = default) =>
        RecipientCommandAsync(server, recipientId, recipientKey, SmpCommand.OffCommand, ct);

    /// <summary>DEL: the queue and its messages are gone, and so is our subscription.</summary>
    public async Task DeleteAsync(SmpServerAddress server, byte[] recipientId, RSA recipientKey, CancellationToken ct = default)
    {
        await RecipientCommandAsync(server, recipientId, recipientKey, SmpCommand.DelCommand, ct).ConfigureAwait(false);
        Unsubscribe(server, recipientId);
    }

    /// <summary>SEND, unsigned when <paramref name="senderKey"/> is null (an unsecured queue). Bodies over <see cref="MaxBodySize"/> fail with LARGE.</summary>
    public async Task SendAsync(SmpServerAddress server, byte[] senderId, RSA? senderKey, ReadOnlyMemory<byte> body, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(senderId);
        if (body.Length > MaxBodySize)
            throw new SmpClientException(SmpClientError.Large, $"body of {body.Length} bytes exceeds {MaxBodySize}");
        var (_, connection) = await ConnectionAsync(server, ct).ConfigureAwait(false);
        await connection.RequestAsync(senderKey, senderId, new SmpCommand.Send(body), ct).ConfigureAwait(false);
    }

    /// <summary>Servers connected now (up) and servers lost and being reconnected to (down), for the metrics.</summary>
    public (int Up, int Down) RelayCounts()
    {
        int up = 0, down = 0;
        foreach (var entry in _servers.Values)
        {
            lock (entry.Sync)
            {
                if (entry.Down) down++;
                else if (entry.Connection is { IsOpen: true }) up++;
            }
        }
        return (up, down);
    }

    /// <summary>
    /// The open connection to <paramref name="server"/> for a window of pipelined SENDs. They all go on this
    /// one connection, so they reach the server in the order they were started: after a reconnect a later
    /// SEND of the window cannot overtake an earlier one that went out on the lost connection.
    /// </summary>
    public async Task<SmpSender> SenderAsync(SmpServerAddress server, CancellationToken ct = default)
    {
        var (_, connection) = await ConnectionAsync(server, ct).ConfigureAwait(false);
        return new SmpSender(connection);
    }

    /// <summary>Forgets a subscription locally (nothing is sent): it will not be re-subscribed after a reconnect.</summary>
    public void Unsubscribe(SmpServerAddress server, byte[] recipientId)
    {
        if (_servers.TryGetValue(server, out var entry)) entry.Subscriptions.TryRemove(SubscriptionKey(recipientId), out _);
    }

    /// <summary>True when the queue is recorded as subscribed (and so re-subscribed after a reconnect).</summary>
    public bool IsSubscribed(SmpServerAddress server, byte[] recipientId) =>
        _servers.TryGetValue(server, out var entry) && entry.Subscriptions.ContainsKey(SubscriptionKey(recipientId));

    private async Task RecipientCommandAsync(SmpServerAddress server, byte[] recipientId, RSA recipientKey, SmpCommand command, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(recipientId);
        ArgumentNullException.ThrowIfNull(recipientKey);
        var (_, connection) = await ConnectionAsync(server, ct).ConfigureAwait(false);
        await connection.RequestAsync(recipientKey, recipientId, command, ct).ConfigureAwait(false);
    }

    private static string SubscriptionKey(byte[] recipientId) => Convert.ToBase64String(recipientId);

    private void Emit(SmpClientEvent e) => _events.Writer.TryWrite(e);

    /// <summary>The key is kept as PKCS#8 bytes: the caller owns (and may dispose) the RSA object it passed.</summary>
    private sealed record Subscription(byte[] RecipientId, byte[] KeyPkcs8);

    /// <summary>Per-server state. <see cref="Sync"/> guards Connection, Down and IdentityWarned, and is never held across an await.</summary>
    private sealed class ServerEntry(SmpServerAddress address)
    {
        public SmpServerAddress Address { get; } = address;
        public SemaphoreSlim ConnectGate { get; } = new(1, 1);
        public Lock Sync { get; } = new();
        public SmpConnection? Connection { get; set; }
        public bool Down { get; set; }
        /// <summary>A key hash mismatch was logged since the last good connection: once per outage is enough.</summary>
        public bool IdentityWarned { get; set; }
        public Task Reconnect { get; set; } = Task.CompletedTask;
        public ConcurrentDictionary<string, Subscription> Subscriptions { get; } = new();
    }
}
