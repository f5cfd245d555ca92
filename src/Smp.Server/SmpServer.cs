using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Smp.Protocol.Crypto;
using Smp.Protocol.Encodings;
using Smp.Server.Persistence;
using Smp.Server.Sessions;

namespace Smp.Server;

/// <summary>
/// An SMP 0.3 relay server (docs/server.md): accepts clients over TCP, keeps queues and messages in its
/// data directory, and hosts in-process as well as behind the <c>smp server</c> command.
/// </summary>
public sealed partial class SmpServer : IAsyncDisposable
{
    private readonly SmpServerOptions _options;
    private readonly ILogger _logger;
    private readonly RSA _key;
    private readonly byte[] _keyDer;
    private readonly ServerState _state;
    private readonly TcpListener _listener;
    private readonly DataDirectoryLock _lock;
    private readonly ServerMetrics _metrics;
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentDictionary<ClientSession, Task> _sessions = new();
    private Task _acceptLoop = Task.CompletedTask;
    private Task _maintenance = Task.CompletedTask;
    private Task _stats = Task.CompletedTask;
    private Task? _stopTask;

    /// <summary>The name of the <see cref="System.Diagnostics.Metrics.Meter"/> every server publishes its instruments on.</summary>
    public const string MeterName = "Smp.Server";

    private SmpServer(SmpServerOptions options, ILoggerFactory loggerFactory, RSA key, ServerState state, TcpListener listener, DataDirectoryLock dataLock, SmpServerRecovery recovery)
    {
        _options = options;
        _lock = dataLock;
        Recovery = recovery;
        _logger = loggerFactory.CreateLogger<SmpServer>();
        _key = key;
        _keyDer = SmpRsa.ExportPublicKey(key);
        _state = state;
        _listener = listener;
        Port = ((IPEndPoint)listener.LocalEndpoint).Port;
        Address = new SmpServerAddress(options.Host, Port, SmpRsa.KeyHash(_keyDer));
        _metrics = new ServerMetrics(state);
    }

    /// <summary>The port accepting connections (the one picked when <see cref="SmpServerOptions.Port"/> was 0).</summary>
    public int Port { get; }

    /// <summary><c>host:port#keyHash</c>, what clients need to reach and authenticate this server.</summary>
    public SmpServerAddress Address { get; }

    public SmpServerStats Stats => _state.Counters.Snapshot(_state.Store.Count);

    /// <summary>What start-up could not restore from the data directory, and which files it kept aside.</summary>
    public SmpServerRecovery Recovery { get; }

    /// <summary>True from start until <see cref="StopAsync"/> begins: new connections are accepted.</summary>
    public bool Accepting => !_stopping.IsCancellationRequested;

    /// <summary>This server's meter (named <see cref="MeterName"/>), for listeners that want this server's instruments only.</summary>
    public System.Diagnostics.Metrics.Meter Meter => _metrics.Meter;

    internal ServerState State => _state;

    /// <summary>
    /// Locks the data directory, loads or creates the server key, replays the store log and message journal,
    /// keeps aside whatever of them could not be read, compacts them, and starts listening. Returns once
    /// connections are accepted. Throws <see cref="SmpServerStartException"/> when the data directory is in
    /// use or the key is missing beside an existing store.
    /// </summary>
    public static Task<SmpServer> StartAsync(SmpServerOptions options, ILoggerFactory? loggerFactory = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        loggerFactory ??= NullLoggerFactory.Instance;
        var logger = loggerFactory.CreateLogger<SmpServer>();
        ct.ThrowIfCancellationRequested();
        // Start-up is file work; run it off the caller's context.
        return Task.Run(() =>
        {
            var dir = Path.GetFullPath(options.DataDirectory);
            Directory.CreateDirectory(dir);
            // First the lock: nothing in the directory is read or written by a second server.
            var dataLock = DataDirectoryLock.Acquire(dir);
            if (!DataDirectoryLock.LockingEnabled)
                logger.LogWarning("file locking is turned off (DOTNET_SYSTEM_IO_DISABLEFILELOCKING): nothing stops a second server from using {Directory} at the same time", dir);
            RSA? key = null;
            QueueStore? store = null;
            MessageJournal? journal = null;
            try
            {
                var storeExists = QueueStore.ExistsIn(dir) || MessageJournal.ExistsIn(dir);
                key = ServerKeyFile.LoadOrCreate(dir, options.KeyBits, storeExists, options.AllowNewKey, out var created);
                var keyPath = Path.Combine(dir, ServerKeyFile.FileName);
                if (created && storeExists)
                    logger.LogWarning("made a new server key {File} for an existing store, as allowed: the server address has changed, and clients that know the old one cannot reach this server until given the new one", keyPath);
                else if (created) logger.LogInformation("created server key {File}", keyPath);

                var damage = new StartupDamage(options.TimeProvider);
                store = QueueStore.Load(dir, damage);
                journal = MessageJournal.Load(dir, options.FsyncEveryWrite, store, options.TimeProvider.GetUtcNow() - options.MessageTtl, damage, logger);
                damage.Settle(store.IsKnown);
                // Journal first: once the store log is compacted its DELETE records are gone, and the
                // journal must no longer hold messages of the queues they deleted.
                journal.Compact(damage);
                store.CompactAndOpen(options.FsyncEveryWrite, damage);
                var recovery = damage.Report(logger);

                var counters = new ServerCounters();
                counters.Loaded(store.Queues.Sum(q => (long)q.MessageCount));
                var state = new ServerState(options, store, journal, counters, loggerFactory);
                var listener = new TcpListener(options.BindAddress, options.Port);
                if (options.BindAddress.Equals(IPAddress.IPv6Any)) listener.Server.DualMode = true;
                listener.Start(512);
                var server = new SmpServer(options, loggerFactory, key, state, listener, dataLock, recovery);
                server.Begin();
                logger.LogInformation("{Queues} queue(s) and {Messages} message(s) restored from {Directory}", store.Count, counters.Stored, dir);
                logger.LogInformation("SMP server listening on {Address}", server.Address);
                return server;
            }
            catch
            {
                journal?.Dispose();
                store?.Dispose();
                key?.Dispose();
                dataLock.Dispose();
                throw;
            }
        }, ct);
    }

    private void Begin()
    {
        var ct = _stopping.Token;
        _acceptLoop = AcceptLoopAsync(ct);
        _maintenance = MaintenanceLoopAsync(ct);
        if (_options.StatsInterval > TimeSpan.Zero) _stats = StatsLoopAsync(ct);
    }

    private async Task AcceptLoopAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptSocketAsync(ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            catch (SocketException e)
            {
                // E.g. out of file descriptors: keep serving the connections we have.
                _logger.LogWarning("accept failed: {Error}", e.SocketErrorCode);
                try
                {
                    await Task.Delay(100, ct).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                continue;
            }
            socket.NoDelay = true;
            if (_options.SocketSendBufferSize > 0) socket.SendBufferSize = _options.SocketSendBufferSize;
            var session = new ClientSession(_state, socket, _key, _keyDer, ct);
            _sessions[session] = RunSessionAsync(session);
        }
    }

    private async Task RunSessionAsync(ClientSession session)
    {
        await Task.Yield();
        try
        {
            await session.RunAsync().ConfigureAwait(false);
        }
        finally
        {
            _sessions.TryRemove(session, out _);
        }
    }

    /// <summary>Stops accepting, closes every connection, and closes the store files. Safe to call more than once.</summary>
    public Task StopAsync()
    {
        lock (_stopping) _stopTask ??= StopCoreAsync();
        return _stopTask;
    }

    private async Task StopCoreAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        _listener.Stop();
        await _acceptLoop.ConfigureAwait(false);
        foreach (var session in _sessions.Keys) session.Abort();
        await Task.WhenAll(_sessions.Values).ConfigureAwait(false);
        await Task.WhenAll(_maintenance, _stats).ConfigureAwait(false);
        _state.Journal.Dispose();
        _state.Store.Dispose();
        _metrics.Dispose();
        _key.Dispose();
        // Last: only now may another server open the files.
        _lock.Dispose();
        _stopping.Dispose();
        _logger.LogInformation("SMP server stopped");
    }

    public async ValueTask DisposeAsync() => await StopAsync().ConfigureAwait(false);
}
