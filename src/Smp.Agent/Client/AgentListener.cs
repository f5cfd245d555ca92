using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Smp.Protocol.Agent;

namespace Smp.Agent.Client;

/// <summary>
/// The client protocol on TCP (agent.md §3, default port 5224): a welcome line, then three-line
/// transmissions both ways, many clients at once. Each client is one <see cref="ClientSession"/>.
/// </summary>
public sealed class AgentListener : IAsyncDisposable
{
    public const int DefaultPort = 5224;

    private readonly SmpAgent _agent;
    private readonly Socket _listener;
    private readonly ILogger _log;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _sessions = [];
    private readonly Lock _sessionsLock = new();
    private Task _accept = Task.CompletedTask;

    private AgentListener(SmpAgent agent, Socket listener)
    {
        _agent = agent;
        _listener = listener;
        _log = agent.Options.LoggerFactory.CreateLogger("Smp.Agent.Listener");
    }

    public int Port => ((IPEndPoint)_listener.LocalEndPoint!).Port;

    /// <summary>True while clients are accepted: the health check of <c>smp agent --metrics</c>.</summary>
    public bool Accepting => !_stop.IsCancellationRequested && !_accept.IsCompleted;

    /// <summary>Starts accepting clients on <paramref name="address"/>:<paramref name="port"/> (0 picks a free port).</summary>
    public static AgentListener Start(SmpAgent agent, IPAddress address, int port)
    {
        var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.Bind(new IPEndPoint(address, port));
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        return Start(agent, socket);
    }

    /// <summary>
    /// Starts accepting clients on a socket that is already bound (handed over by whoever reserved the
    /// address, e.g. a service manager); the listener owns it from now on.
    /// </summary>
    public static AgentListener Start(SmpAgent agent, Socket bound)
    {
        ArgumentNullException.ThrowIfNull(bound);
        bound.Listen(512);
        var l = new AgentListener(agent, bound);
        l._log.LogInformation("client port listening on {Endpoint}", bound.LocalEndPoint);
        l._accept = Task.Run(l.AcceptLoopAsync);
        return l;
    }

    private async Task AcceptLoopAsync()
    {
        try
        {
            while (true)
            {
                var tcp = new TcpClient { Client = await _listener.AcceptAsync(_stop.Token).ConfigureAwait(false), NoDelay = true };
                var task = Task.Run(() => RunSessionAsync(tcp));
                lock (_sessionsLock)
                {
                    _sessions.RemoveAll(t => t.IsCompleted);
                    _sessions.Add(task);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
        catch (SocketException e)
        {
            _log.LogError(e, "the client listener stopped");
        }
    }

    /// <summary>One client: a read loop handling its transmissions in order and a write loop for everything it is sent.</summary>
    private async Task RunSessionAsync(TcpClient tcp)
    {
        var session = _agent.Connect(tcp.Client.RemoteEndPoint?.ToString() ?? "client");
        using var sessionStop = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        var stream = tcp.GetStream();
        var reader = PipeReader.Create(stream, new StreamPipeReaderOptions(leaveOpen: true));
        var writer = PipeWriter.Create(stream, new StreamPipeWriterOptions(leaveOpen: true));
        Task writing = Task.CompletedTask;
        try
        {
            AgentTransmissionCodec.WriteWelcome(writer);
            await writer.FlushAsync(sessionStop.Token).ConfigureAwait(false);
            writing = WriteLoopAsync(session, writer, sessionStop);
            var parser = new AgentTransmissionParser(AgentParty.Client);
            while (true)
            {
                var result = await reader.ReadAsync(sessionStop.Token).ConfigureAwait(false);
                var buffer = result.Buffer;
                while (true)
                {
                    var status = parser.TryRead(buffer, out var consumed, out var examined, out var transmission);
                    if (status == AgentReadStatus.NeedMoreData)
                    {
                        reader.AdvanceTo(consumed, examined);
                        break;
                    }
                    buffer = buffer.Slice(consumed);
                    await _agent.HandleAsync(session, transmission!, sessionStop.Token).ConfigureAwait(false);
                }
                if (result.IsCompleted || result.IsCanceled || writing.IsCompleted) break;
            }
        }
        catch (Exception e) when (IsTeardown(e))
        {
            // The client went away or the agent is stopping: expected, nothing to report.
        }
        catch (Exception e)
        {
            _log.LogError(e, "client session failed");
        }
        finally
        {
            _agent.Disconnect(session);
            await sessionStop.CancelAsync().ConfigureAwait(false);
            // A peer that is gone makes each of these fail (a broken pipe while flushing what was left);
            // none of it may escape, or stopping the agent would fail because one client left.
            await QuietlyAsync(() => writing).ConfigureAwait(false);
            await QuietlyAsync(() => reader.CompleteAsync().AsTask()).ConfigureAwait(false);
            await QuietlyAsync(() => writer.CompleteAsync().AsTask()).ConfigureAwait(false);
            tcp.Dispose();
        }
    }

    private static bool IsTeardown(Exception e) => e is OperationCanceledException or IOException or SocketException or ObjectDisposedException;

    private async Task QuietlyAsync(Func<Task> teardown)
    {
        try
        {
            await teardown().ConfigureAwait(false);
        }
        catch (Exception e) when (IsTeardown(e))
        {
        }
        catch (Exception e)
        {
            _log.LogWarning(e, "closing a client session failed");
        }
    }

    /// <summary>
    /// corrId CRLF alias CRLF payload CRLF; a stored event leaves the store once written. When the session
    /// is closed (the client stopped reading and its outputs piled up) the whole session ends.
    /// </summary>
    private async Task WriteLoopAsync(ClientSession session, PipeWriter writer, CancellationTokenSource stop)
    {
        try
        {
            await foreach (var output in session.Output.ReadAllAsync(stop.Token).ConfigureAwait(false))
            {
                WireLine(writer, output.CorrId);
                WireLine(writer, output.Alias);
                writer.Write(output.Payload);
                writer.Write("\r\n"u8);
                var flush = await writer.FlushAsync(stop.Token).ConfigureAwait(false);
                if (flush.IsCompleted) return;
                await _agent.DeliveredAsync(output).ConfigureAwait(false);
            }
        }
        finally
        {
            await stop.CancelAsync().ConfigureAwait(false);
        }
    }

    private static void WireLine(PipeWriter w, string text)
    {
        var span = w.GetSpan(text.Length + 2);
        for (var i = 0; i < text.Length; i++) span[i] = (byte)text[i];
        span[text.Length] = (byte)'\r';
        span[text.Length + 1] = (byte)'\n';
        w.Advance(text.Length + 2);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Dispose();
        await _accept.ConfigureAwait(false);
        Task[] sessions;
        lock (_sessionsLock) sessions = [.. _sessions];
        // Sessions end quietly whatever their peers did (RunSessionAsync catches everything).
        await Task.WhenAll(sessions).ConfigureAwait(false);
        _stop.Dispose();
    }
}
