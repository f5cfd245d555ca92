using System.Buffers.Text;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Smp.Protocol.Smp;
using Smp.Protocol.Transport;

namespace Smp.Agent.Smp;

/// <summary>The reader, writer and ping loops, and how responses are routed.</summary>
public sealed partial class SmpConnection
{
    private async Task WriteLoopAsync()
    {
        await Task.Yield();
        var token = _cts.Token;
        try
        {
            await foreach (var transmission in _writes.Reader.ReadAllAsync(token).ConfigureAwait(false))
                await _transport.WriteAsync(transmission, token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or SmpTransportException)
        {
            if (IsOpen) LogWriteFailed(_logger, Server.Endpoint, e);
            Close(SmpClientError.Network);
        }
    }

    /// <summary>A PING without PONG in time means the connection is dead even if TCP has not noticed.</summary>
    private async Task PingLoopAsync()
    {
        if (_options.PingInterval == Timeout.InfiniteTimeSpan) return;
        await Task.Yield();
        var token = _cts.Token;
        using var timer = new PeriodicTimer(_options.PingInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(token).ConfigureAwait(false))
            {
                try
                {
                    await RequestAsync(null, default, SmpCommand.PingCommand, token).ConfigureAwait(false);
                }
                catch (SmpClientException e) when (e.Error.Kind == SmpClientErrorKind.Timeout)
                {
                    LogPingTimeout(_logger, Server.Endpoint);
                    Close(SmpClientError.Timeout);
                    return;
                }
                catch (SmpClientException e) when (e.Error.Kind != SmpClientErrorKind.Network)
                {
                    LogPingFailed(_logger, Server.Endpoint, e.Error.ToWireText());
                }
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
        }
        catch (SmpClientException)
        {
            // NETWORK: the connection is closing and the reader loop reports why.
        }
    }

    private async Task ReadLoopAsync()
    {
        await Task.Yield();
        var token = _cts.Token;
        var plaintext = new byte[_transport.BlockSize - BlockCipher.TagSize];
        SmpClientError reason = SmpClientError.Network;
        try
        {
            while (true)
            {
                if (!await _transport.ReadAsync(plaintext, token).ConfigureAwait(false))
                {
                    // The cipher counter has advanced, so the stream stays in step (smp-wire.md §2).
                    LogBadBlock(_logger, Server.Endpoint);
                    _listener?.OnError(this, [], SmpClientError.Response(SmpErrorCode.Block));
                    continue;
                }
                Dispatch(SmpTransmissionCodec.Parse(plaintext));
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
        }
        catch (SmpTransportException e) when (e.Error == TransportError.Closed)
        {
            LogServerClosed(_logger, Server.Endpoint);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            if (IsOpen) LogReadFailed(_logger, Server.Endpoint, e);
        }
        catch (Exception e)
        {
            LogReaderCrashed(_logger, Server.Endpoint, e);
            reason = SmpClientError.Unexpected;
        }
        finally
        {
            Close(reason);
            await Task.WhenAll(_writeLoop, _pingLoop).ConfigureAwait(false);
            try
            {
                await _transport.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or InvalidOperationException)
            {
                // The socket is already gone; nothing is left to release.
            }
            _cts.Dispose();
            _completion.TrySetResult();
        }
    }

    private void Dispatch(SmpTransmission t)
    {
        if (TryParseCorrId(t.CorrId, out var corrId) && _pending.TryRemove(corrId, out var request))
            Complete(request, t);
        else
            Unsolicited(t);
    }

    private void Complete(PendingRequest request, SmpTransmission t)
    {
        switch (t.Command)
        {
            case null:
                request.Fail(SmpClientError.Response(t.Error ?? SmpErrorCode.Block));
                return;
            case SmpCommand.Err err:
                // ERR may echo an empty queue id (ERR BLOCK); it answers the request whatever it says.
                request.Fail(SmpClientError.Server(err.Error));
                return;
            case SmpCommand.Msg when t.QueueId.Length != 0:
                // Never swallow a MSG, even one answering the wrong request: the agent must ACK it.
                _listener?.OnPush(this, t.QueueId, t.Command);
                break;
        }
        var expected = request.Kind switch
        {
            SmpCommandKind.New => SmpCommandKind.Ids,
            SmpCommandKind.Ping => SmpCommandKind.Pong,
            SmpCommandKind.Sub or SmpCommandKind.Ack when t.Command.Kind == SmpCommandKind.Msg => SmpCommandKind.Msg,
            _ => SmpCommandKind.Ok,
        };
        if (t.Command.Kind != expected || !t.QueueId.AsSpan().SequenceEqual(request.QueueId))
            request.Fail(SmpClientError.Unexpected, $"{t.Command.Kind} answering {request.Kind}");
        else
            request.Succeed(expected == SmpCommandKind.Msg ? SmpCommand.OkResponse : t.Command);
    }

    private void Unsolicited(SmpTransmission t)
    {
        switch (t.Command)
        {
            case null:
                LogUnparsable(_logger, Server.Endpoint, SmpErrors.ToText(t.Error ?? SmpErrorCode.Block));
                _listener?.OnError(this, t.QueueId, SmpClientError.Response(t.Error ?? SmpErrorCode.Block));
                break;
            case SmpCommand.Msg or SmpCommand.End when t.QueueId.Length != 0:
                _listener?.OnPush(this, t.QueueId, t.Command);
                break;
            case SmpCommand.Err err:
                LogUnsolicitedError(_logger, Server.Endpoint, SmpErrors.ToText(err.Error));
                _listener?.OnError(this, t.QueueId, SmpClientError.Server(err.Error));
                break;
            default:
                // Typically the late answer of a request that timed out.
                LogIgnored(_logger, Server.Endpoint, t.Command.Kind);
                break;
        }
    }

    /// <summary>Our corrIds are canonical positive decimals; anything else (the empty corrId of a push) matches no request.</summary>
    internal static bool TryParseCorrId(ReadOnlySpan<byte> text, out long corrId)
    {
        corrId = 0;
        return text.Length is > 0 and <= 19 && text[0] != (byte)'0'
            && Utf8Parser.TryParse(text, out corrId, out var consumed) && consumed == text.Length && corrId > 0;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "SMP server {Server} closed the connection")]
    private static partial void LogServerClosed(ILogger logger, string server);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reading from SMP server {Server} failed")]
    private static partial void LogReadFailed(ILogger logger, string server, Exception e);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Writing to SMP server {Server} failed")]
    private static partial void LogWriteFailed(ILogger logger, string server, Exception e);

    [LoggerMessage(Level = LogLevel.Error, Message = "Reader of SMP server {Server} failed unexpectedly")]
    private static partial void LogReaderCrashed(ILogger logger, string server, Exception e);

    [LoggerMessage(Level = LogLevel.Warning, Message = "SMP server {Server} did not answer PING: closing the connection")]
    private static partial void LogPingTimeout(ILogger logger, string server);

    [LoggerMessage(Level = LogLevel.Warning, Message = "SMP server {Server} answered PING with {Error}")]
    private static partial void LogPingFailed(ILogger logger, string server, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "A block from SMP server {Server} did not decrypt")]
    private static partial void LogBadBlock(ILogger logger, string server);

    [LoggerMessage(Level = LogLevel.Warning, Message = "SMP server {Server} sent a transmission that does not parse ({Error})")]
    private static partial void LogUnparsable(ILogger logger, string server, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "SMP server {Server} sent ERR {Error} for no request")]
    private static partial void LogUnsolicitedError(ILogger logger, string server, string error);

    [LoggerMessage(Level = LogLevel.Debug, Message = "SMP server {Server} sent {Kind} for no request; ignored")]
    private static partial void LogIgnored(ILogger logger, string server, SmpCommandKind kind);
}
