using System.Collections.Concurrent;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Smp.Agent.Smp;
using Smp.Agent.Store;
using Smp.Protocol.Agent;
using Smp.Protocol.Encodings;

namespace Smp.Agent;

/// <summary>
/// The SMP agent (agent.md): turns simplex queues into duplex connections for its clients. It listens on
/// every receive queue itself, whether or not a client is connected (agent.md §5), keeps a persistent
/// outbox of jobs per connection, and keeps events in the store until the holding client has them.
/// Split by concern: commands, receiving, jobs, event routing.
/// </summary>
public sealed partial class SmpAgent : IAsyncDisposable
{
    /// <summary>Transport block size the padded envelope size is computed for (smp-wire.md §2).</summary>
    public const int BlockSize = 4096;

    /// <summary>End-to-end keys are RSA-2048: the envelope header does not fit OAEP under 1024 bits.</summary>
    public const int E2eKeyBits = 2048;

    private readonly AgentOptions _options;
    private readonly AgentStore _store;
    private readonly SmpClientPool _smp;
    private readonly KeyPool _keys;
    private readonly KeyPool _e2eKeys;
    private readonly ILogger _log;
    private readonly CancellationTokenSource _stop = new();
    private readonly object _holdersLock = new();
    private readonly Dictionary<string, ClientSession> _holders = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Task> _jobRunners = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, bool> _jobRerun = new(StringComparer.Ordinal);
    private Task _receiveLoop = Task.CompletedTask;

    private SmpAgent(AgentOptions options, AgentStore store, SmpClientPool smp)
    {
        _options = options;
        _store = store;
        _smp = smp;
        _log = options.LoggerFactory.CreateLogger("Smp.Agent");
        _keys = new KeyPool(options.KeyBits, options.KeyPoolSize);
        _e2eKeys = options.KeyBits == E2eKeyBits ? _keys : new KeyPool(E2eKeyBits, Math.Max(1, options.KeyPoolSize / 2));
    }

    public AgentOptions Options => _options;

    internal AgentStore Store => _store;

    /// <summary>Padded plaintext size of every envelope we seal: 3,072 bytes with 4,096-byte blocks.</summary>
    public static int PaddedSize => E2eEnvelope.PaddedSize(BlockSize, E2eKeyBits / 8);

    /// <summary>
    /// Opens the store, starts listening on every receive queue and resumes every unfinished job.
    /// </summary>
    public static async Task<SmpAgent> StartAsync(AgentOptions options, CancellationToken ct = default)
    {
        if (options.Servers.Count == 0) throw new ArgumentException("at least one SMP server is needed", nameof(options));
        var store = await AgentStore.OpenAsync(options.DatabasePath, options.FullSync, ct).ConfigureAwait(false);
        var smp = new SmpClientPool(options.SmpClient);
        var agent = new SmpAgent(options, store, smp);
        agent._receiveLoop = Task.Run(agent.ReceiveLoopAsync, CancellationToken.None);
        await agent.ResumeAsync().ConfigureAwait(false);
        return agent;
    }

    /// <summary>Subscribes every receive queue and restarts every connection's outbox.</summary>
    private async Task ResumeAsync()
    {
        var (queues, withJobs) = await _store.TransactAsync(tx =>
        {
            tx.PruneSeen(DateTime.UtcNow - _options.SeenIdRetention);
            return (tx.ListRcvQueues(), tx.AliasesWithJobs());
        }).ConfigureAwait(false);
        foreach (var q in queues) _ = SubscribeQueueAsync(q);
        foreach (var alias in withJobs) KickJobs(alias);
    }

    private async Task SubscribeQueueAsync(RcvQueueRecord q)
    {
        try
        {
            using var key = ImportPrivate(q.RcvKey);
            await _smp.SubscribeAsync(SmpServerAddress.Parse(q.Server), q.RcvId, key, _stop.Token).ConfigureAwait(false);
        }
        catch (SmpClientException e)
        {
            // A server that is down now is resubscribed by the pool when it comes back.
            _log.LogInformation("subscription to a queue on {Server} not made now: {Error}", q.Server, e.Error);
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>A new client of this agent; dispose it with <see cref="Disconnect"/>.</summary>
    public ClientSession Connect(string name = "client") => new(name);

    /// <summary>Forgets a client: its held connections wait (events stay stored) for the next holder.</summary>
    public void Disconnect(ClientSession session)
    {
        lock (_holdersLock)
        {
            foreach (var alias in _holders.Where(kv => kv.Value == session).Select(kv => kv.Key).ToList()) _holders.Remove(alias);
        }
        session.Close();
    }

    internal SmpServerAddress PickServer() => _options.Servers[RandomNumberGenerator.GetInt32(_options.Servers.Count)];

    internal static RSA ImportPrivate(byte[] pkcs8)
    {
        var rsa = RSA.Create();
        rsa.ImportPkcs8PrivateKey(pkcs8, out _);
        return rsa;
    }

    internal static string NewAlias() =>
        Convert.ToBase64String(RandomNumberGenerator.GetBytes(9)).Replace('+', '-').Replace('/', '_');

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _smp.DisposeAsync().ConfigureAwait(false);
        try
        {
            await _receiveLoop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        foreach (var runner in _jobRunners.Values)
        {
            try
            {
                await runner.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
        }
        lock (_holdersLock)
        {
            foreach (var s in _holders.Values.Distinct()) s.Close();
            _holders.Clear();
        }
        _keys.Dispose();
        if (!ReferenceEquals(_keys, _e2eKeys)) _e2eKeys.Dispose();
        await _store.DisposeAsync().ConfigureAwait(false);
        _stop.Dispose();
    }
}
