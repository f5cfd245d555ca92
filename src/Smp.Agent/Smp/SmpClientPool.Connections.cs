using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Smp.Protocol.Encodings;
using Smp.Protocol.Smp;
using Smp.Protocol.Transport;

namespace Smp.Agent.Smp;

/// <summary>Connecting, losing and regaining servers; the connection listener; disposal.</summary>
public sealed partial class SmpClientPool
{
    /// <summary>The open connection to <paramref name="server"/>, made now if there is none; NETWORK while it is down.</summary>
    private async Task<(ServerEntry Entry, SmpConnection Connection)> ConnectionAsync(SmpServerAddress server, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(server);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var entry = _servers.GetOrAdd(server, a => new ServerEntry(a));
        if (Current(entry) is { } open) return (entry, open);

        await entry.ConnectGate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (Current(entry) is { } raced) return (entry, raced);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, _disposeCts.Token);
            SmpConnection connection;
            try
            {
                connection = await SmpConnection.ConnectAsync(server, _options, this, linked.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                throw new ObjectDisposedException(nameof(SmpClientPool));
            }
            catch (SmpClientException e)
            {
                NoteConnectFailure(entry, e.Error);
                throw;
            }
            lock (entry.Sync)
            {
                if (!entry.Down && connection.IsOpen && Volatile.Read(ref _disposed) == 0)
                {
                    entry.Connection = connection;
                    entry.IdentityWarned = false;
                    return (entry, connection);
                }
            }
            await connection.DisposeAsync().ConfigureAwait(false);
            throw new SmpClientException(SmpClientError.Network, $"connection to {server} was lost while connecting");
        }
        finally
        {
            entry.ConnectGate.Release();
        }
    }

    private static SmpConnection? Current(ServerEntry entry)
    {
        lock (entry.Sync)
        {
            if (entry.Down) throw new SmpClientException(SmpClientError.Network, $"{entry.Address} is down; reconnecting");
            return entry.Connection is { IsOpen: true } c ? c : null;
        }
    }

    void ISmpConnectionListener.OnPush(SmpConnection connection, byte[] queueId, SmpCommand command)
    {
        switch (command)
        {
            case SmpCommand.Msg msg:
                Emit(new SmpClientEvent.Message(connection.Server, queueId, msg.MsgId, msg.Timestamp, msg.Body));
                break;
            case SmpCommand.End:
                Unsubscribe(connection.Server, queueId);
                Emit(new SmpClientEvent.SubscriptionEnded(connection.Server, queueId));
                break;
        }
    }

    void ISmpConnectionListener.OnError(SmpConnection connection, byte[] queueId, SmpClientError error) =>
        Emit(new SmpClientEvent.Error(connection.Server, queueId, error));

    void ISmpConnectionListener.OnClosed(SmpConnection connection, SmpClientError? reason)
    {
        if (reason is null || Volatile.Read(ref _disposed) != 0 || !_servers.TryGetValue(connection.Server, out var entry)) return;
        lock (entry.Sync)
        {
            // Only the current connection's loss matters; one being replaced or abandoned is not news.
            if (!ReferenceEquals(entry.Connection, connection)) return;
            entry.Connection = null;
            GoDown(entry);
        }
        LogServerDown(_logger, connection.Server.Endpoint, reason.Value.ToWireText());
    }

    /// <summary>A server that could not be reached for a SUB: reconnected in the background like a lost one.</summary>
    private void StartReconnecting(ServerEntry entry)
    {
        lock (entry.Sync)
        {
            if (entry.Down || entry.Connection is { IsOpen: true } || Volatile.Read(ref _disposed) != 0) return;
            GoDown(entry);
        }
        LogServerUnreachable(_logger, entry.Address.Endpoint);
    }

    /// <summary>The server counts as down, once, until the reconnect loop started here brings it up. Under entry.Sync.</summary>
    private void GoDown(ServerEntry entry)
    {
        entry.Down = true;
        Emit(new SmpClientEvent.ServerDown(entry.Address));
        entry.Reconnect = Task.Run(() => ReconnectLoopAsync(entry));
    }

    private async Task ReconnectLoopAsync(ServerEntry entry)
    {
        var token = _disposeCts.Token;
        var delay = _options.ReconnectInitialDelay;
        try
        {
            while (true)
            {
                await Task.Delay(Jitter(delay), token).ConfigureAwait(false);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _options.ReconnectMaxDelay.Ticks));
                SmpConnection connection;
                try
                {
                    connection = await SmpConnection.ConnectAsync(entry.Address, _options, this, token).ConfigureAwait(false);
                }
                catch (SmpClientException e)
                {
                    NoteConnectFailure(entry, e.Error);
                    LogReconnectFailed(_logger, entry.Address.Endpoint, e.Error.ToWireText());
                    continue;
                }
                var up = false;
                var done = new HashSet<string>(StringComparer.Ordinal);
                try
                {
                    bool? brought = false;
                    // Subscriptions recorded while this runs (a SUB made while the server was down) are
                    // taken before the server counts as up; after that, SUB goes straight to the connection.
                    while (brought == false && await ResubscribeAsync(entry, connection, done, token).ConfigureAwait(false))
                        brought = TryBringUp(entry, connection, done);
                    up = brought == true;
                }
                finally
                {
                    if (!up) await connection.DisposeAsync().ConfigureAwait(false);
                }
                if (up) return;
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
        }
    }

    /// <summary>True: up. False: subscriptions came meanwhile, SUB them first. Null: this connection is no good.</summary>
    private bool? TryBringUp(ServerEntry entry, SmpConnection connection, HashSet<string> done)
    {
        lock (entry.Sync)
        {
            // If the new connection has died already its OnClosed was ignored, so this loop must go on.
            if (!connection.IsOpen || Volatile.Read(ref _disposed) != 0) return null;
            if (entry.Subscriptions.Keys.Any(k => !done.Contains(k))) return false;
            entry.Connection = connection;
            entry.Down = false;
            entry.IdentityWarned = false;
            Emit(new SmpClientEvent.ServerUp(entry.Address));
        }
        LogServerUp(_logger, entry.Address.Endpoint, entry.Subscriptions.Count);
        return true;
    }

    /// <summary>
    /// SUB again for every recorded queue. A refusal (ERR) drops that subscription and is reported as an
    /// <see cref="SmpClientEvent.Error"/>; a timeout or a lost connection means trying the whole server again.
    /// </summary>
    private async Task<bool> ResubscribeAsync(ServerEntry entry, SmpConnection connection, HashSet<string> done, CancellationToken ct)
    {
        var todo = entry.Subscriptions.ToArray().Where(pair => !done.Contains(pair.Key)).ToArray();
        foreach (var pair in todo) done.Add(pair.Key);
        var results = await Task.WhenAll(todo.Select(async pair =>
        {
            try
            {
                using var key = RSA.Create();
                key.ImportPkcs8PrivateKey(pair.Value.KeyPkcs8, out _);
                await connection.RequestAsync(key, pair.Value.RecipientId, SmpCommand.SubCommand, ct).ConfigureAwait(false);
                return true;
            }
            catch (SmpClientException e) when (!SmpErrorPolicy.IsPassing(e.Error))
            {
                entry.Subscriptions.TryRemove(pair);
                Emit(new SmpClientEvent.Error(entry.Address, pair.Value.RecipientId, e.Error));
                return true;
            }
            catch (SmpClientException e)
            {
                LogResubscribeFailed(_logger, entry.Address.Endpoint, e.Error.ToWireText());
                return false;
            }
        })).ConfigureAwait(false);
        return results.All(ok => ok);
    }

    /// <summary>
    /// A server whose key does not match the key hash of its address is not the relay it claims to be (or the
    /// relay's key changed): the operator hears of it once until a good connection, not once per retry.
    /// </summary>
    private void NoteConnectFailure(ServerEntry entry, SmpClientError error)
    {
        if (error is not { Kind: SmpClientErrorKind.Transport, TransportError: TransportError.BadKeyHash }) return;
        lock (entry.Sync)
        {
            if (entry.IdentityWarned) return;
            entry.IdentityWarned = true;
        }
        LogIdentityMismatch(_logger, entry.Address.Endpoint);
    }

    /// <summary>Between half and all of <paramref name="delay"/>, so that many agents do not reconnect in step.</summary>
    private static TimeSpan Jitter(TimeSpan delay) => delay * (0.5 + (Random.Shared.NextDouble() * 0.5));

    /// <summary>Stops reconnecting, closes every connection (pending requests fail with NETWORK) and completes <see cref="Events"/>.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        await _disposeCts.CancelAsync().ConfigureAwait(false);
        foreach (var entry in _servers.Values)
        {
            SmpConnection? connection;
            Task reconnect;
            lock (entry.Sync)
            {
                connection = entry.Connection;
                entry.Connection = null;
                reconnect = entry.Reconnect;
            }
            if (connection is not null) await connection.DisposeAsync().ConfigureAwait(false);
            await reconnect.ConfigureAwait(false);
        }
        _events.Writer.TryComplete();
        _disposeCts.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "SMP server {Server} is down ({Reason}); reconnecting")]
    private static partial void LogServerDown(ILogger logger, string server, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "SMP server {Server} cannot be reached to subscribe; reconnecting")]
    private static partial void LogServerUnreachable(ILogger logger, string server);

    [LoggerMessage(Level = LogLevel.Information, Message = "SMP server {Server} is up again; {Count} subscriptions renewed")]
    private static partial void LogServerUp(ILogger logger, string server, int count);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Reconnecting to SMP server {Server} failed: {Error}")]
    private static partial void LogReconnectFailed(ILogger logger, string server, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Re-subscribing on SMP server {Server} failed: {Error}; trying again")]
    private static partial void LogResubscribeFailed(ILogger logger, string server, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "SMP server {Server} is refused: its identity did not match (the key it presented does not have the key hash of its address). Check the address, or whether the relay's key was replaced")]
    private static partial void LogIdentityMismatch(ILogger logger, string server);
}
