using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Threading.Channels;
using Smp.Protocol.Agent;

namespace Smp.Agent.Client;

/// <summary>
/// A client of an agent's TCP port (agent.md §3): writes transmissions, reads everything the agent sends
/// into <see cref="Incoming"/>. Used by the demo, the terminal client and tests.
/// </summary>
public sealed class AgentTcpClient : IAsyncDisposable
{
    private readonly TcpClient _tcp;
    private readonly PipeReader _reader;
    private readonly PipeWriter _writer;
    private readonly SemaphoreSlim _writeGate = new(1, 1);
    private readonly Channel<AgentTransmission> _incoming = Channel.CreateUnbounded<AgentTransmission>(new UnboundedChannelOptions { SingleWriter = true });
    private readonly List<AgentTransmission> _held = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _readLoop;
    private long _corrId;

    private AgentTcpClient(TcpClient tcp)
    {
        _tcp = tcp;
        var stream = tcp.GetStream();
        _reader = PipeReader.Create(stream, new StreamPipeReaderOptions(leaveOpen: true));
        _writer = PipeWriter.Create(stream, new StreamPipeWriterOptions(leaveOpen: true));
        _readLoop = Task.Run(ReadLoopAsync);
    }

    /// <summary>Everything the agent sends, parsed; completed when the connection closes.</summary>
    public ChannelReader<AgentTransmission> Incoming => _incoming.Reader;

    /// <summary>Completes when the agent closes the connection or it fails.</summary>
    public Task Completion => _readLoop;

    /// <summary>Raw copies of every line block read and written, for showing the protocol (the demo).</summary>
    public event Action<bool, string>? Wire;

    public static async Task<AgentTcpClient> ConnectAsync(string host, int port, CancellationToken ct = default)
    {
        var tcp = new TcpClient { NoDelay = true };
        try
        {
            await tcp.ConnectAsync(host, port, ct).ConfigureAwait(false);
        }
        catch
        {
            tcp.Dispose();
            throw;
        }
        return new AgentTcpClient(tcp);
    }

    public string NextCorrId() => Interlocked.Increment(ref _corrId).ToString(System.Globalization.CultureInfo.InvariantCulture);

    public async Task SendAsync(string corrId, string alias, AgentCommand command, CancellationToken ct = default)
    {
        var bytes = AgentTransmissionCodec.ToBytes(corrId, alias, command);
        await SendRawAsync(bytes, ct).ConfigureAwait(false);
    }

    /// <summary>Writes bytes as they are: for raw protocol lines typed by a person.</summary>
    public async Task SendRawAsync(ReadOnlyMemory<byte> bytes, CancellationToken ct = default)
    {
        await _writeGate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            Wire?.Invoke(true, System.Text.Encoding.UTF8.GetString(bytes.Span));
            await _writer.WriteAsync(bytes, ct).ConfigureAwait(false);
        }
        finally
        {
            _writeGate.Release();
        }
    }

    /// <summary>Sends a command and waits for its response (same corrId); notifications read meanwhile are held for <see cref="ExpectAsync"/>.</summary>
    public async Task<AgentTransmission> RequestAsync(string alias, AgentCommand command, TimeSpan timeout, CancellationToken ct = default)
    {
        var corrId = NextCorrId();
        await SendAsync(corrId, alias, command, ct).ConfigureAwait(false);
        return await ExpectAsync(t => t.CorrId == corrId, timeout, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// The first transmission that matches, from those held or arriving within <paramref name="timeout"/>;
    /// the others are held, in order, for later calls. Throws <see cref="TimeoutException"/>.
    /// </summary>
    public async Task<AgentTransmission> ExpectAsync(Func<AgentTransmission, bool> match, TimeSpan timeout, CancellationToken ct = default)
    {
        lock (_held)
        {
            var i = _held.FindIndex(t => match(t));
            if (i >= 0)
            {
                var found = _held[i];
                _held.RemoveAt(i);
                return found;
            }
        }
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout);
        try
        {
            while (true)
            {
                var t = await _incoming.Reader.ReadAsync(cts.Token).ConfigureAwait(false);
                if (match(t)) return t;
                lock (_held) _held.Add(t);
            }
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new TimeoutException("the agent did not send what was expected in time");
        }
        catch (ChannelClosedException)
        {
            throw new IOException("the agent closed the connection");
        }
    }

    /// <summary>Takes every held transmission (those read while waiting for something else).</summary>
    public List<AgentTransmission> TakeHeld()
    {
        lock (_held)
        {
            var all = new List<AgentTransmission>(_held);
            _held.Clear();
            return all;
        }
    }

    private async Task ReadLoopAsync()
    {
        var parser = new AgentTransmissionParser(AgentParty.Agent, skipWelcomeLine: true);
        try
        {
            while (true)
            {
                var result = await _reader.ReadAsync(_stop.Token).ConfigureAwait(false);
                var buffer = result.Buffer;
                while (true)
                {
                    var status = parser.TryRead(buffer, out var consumed, out var examined, out var transmission);
                    if (status == AgentReadStatus.NeedMoreData)
                    {
                        _reader.AdvanceTo(consumed, examined);
                        break;
                    }
                    if (Wire is { } wire) wire(false, System.Text.Encoding.UTF8.GetString(buffer.Slice(0, consumed).ToArray()));
                    buffer = buffer.Slice(consumed);
                    _incoming.Writer.TryWrite(transmission!);
                }
                if (result.IsCompleted || result.IsCanceled) break;
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException)
        {
        }
        finally
        {
            _incoming.Writer.TryComplete();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _tcp.Dispose();
        try
        {
            await _readLoop.ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException)
        {
        }
        await _reader.CompleteAsync().ConfigureAwait(false);
        await _writer.CompleteAsync().ConfigureAwait(false);
        _writeGate.Dispose();
        _stop.Dispose();
    }
}
