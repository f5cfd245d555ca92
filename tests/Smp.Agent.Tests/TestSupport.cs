using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Threading.Channels;
using Smp.Agent.Smp;
using Smp.Protocol.Smp;

namespace Smp.Agent.Tests;

internal static class TestSupport
{
    /// <summary>
    /// Upper bound for waiting on an event that should come promptly; only reached when a test fails, so it
    /// is generous: on a 2-core machine shared with builds (load average 20 and more) a group's introduction
    /// can take many seconds. <c>SMP_TEST_PATIENCE_SECONDS</c> overrides it.
    /// </summary>
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(
        int.TryParse(Environment.GetEnvironmentVariable("SMP_TEST_PATIENCE_SECONDS"), out var s) && s > 0 ? s : 30);

    /// <summary>Signing keys in tests are 1024-bit to keep the suite fast.</summary>
    public static RSA SigningKey() => RSA.Create(1024);

    public static SmpClientOptions FastOptions(TimeSpan? requestTimeout = null) => new()
    {
        RequestTimeout = requestTimeout ?? TimeSpan.FromSeconds(4),
        ConnectTimeout = TimeSpan.FromSeconds(4),
        ReconnectInitialDelay = TimeSpan.FromMilliseconds(20),
        ReconnectMaxDelay = TimeSpan.FromMilliseconds(200),
    };

    public static async Task<T> NextAsync<T>(this ChannelReader<T> reader, TimeSpan? timeout = null) =>
        await reader.ReadAsync().AsTask().WaitAsync(timeout ?? Patience);

    /// <summary>Reads events until one of type <typeparamref name="T"/> that matches; the others are returned in <paramref name="skipped"/>.</summary>
    public static async Task<T> ExpectAsync<T>(this ChannelReader<SmpClientEvent> reader, List<SmpClientEvent>? skipped = null, Func<T, bool>? match = null)
        where T : SmpClientEvent
    {
        using var cts = new CancellationTokenSource(Patience);
        while (true)
        {
            var e = await reader.ReadAsync(cts.Token);
            if (e is T t && (match is null || match(t))) return t;
            skipped?.Add(e);
        }
    }

    /// <summary>The next received transmission whose command is <paramref name="kind"/>.</summary>
    public static async Task<(FakeSession Session, SmpTransmission Transmission)> ExpectReceivedAsync(this FakeSmpServer server, SmpCommandKind kind)
    {
        using var cts = new CancellationTokenSource(Patience);
        while (true)
        {
            var r = await server.Received.Reader.ReadAsync(cts.Token);
            if (r.Transmission.Command?.Kind == kind) return r;
        }
    }
}

/// <summary>Records what a connection hands its listener.</summary>
internal sealed class RecordingListener : ISmpConnectionListener
{
    public Channel<(byte[] QueueId, SmpCommand Command)> Pushes { get; } = Channel.CreateUnbounded<(byte[], SmpCommand)>();
    public Channel<(byte[] QueueId, SmpClientError Error)> Errors { get; } = Channel.CreateUnbounded<(byte[], SmpClientError)>();
    public Channel<SmpClientError?> Closed { get; } = Channel.CreateUnbounded<SmpClientError?>();

    public void OnPush(SmpConnection connection, byte[] queueId, SmpCommand command) => Pushes.Writer.TryWrite((queueId, command));
    public void OnError(SmpConnection connection, byte[] queueId, SmpClientError error) => Errors.Writer.TryWrite((queueId, error));
    public void OnClosed(SmpConnection connection, SmpClientError? reason) => Closed.Writer.TryWrite(reason);
}

/// <summary>
/// A loopback port held for a whole test while listeners come and go on it: a bound socket that never
/// listens (so with no listener connections are refused, as on a host whose service is down) and, for each
/// listener, another socket bound to the same port that is handed to it. SO_REUSEPORT lets the sockets
/// share the port; nobody without it can bind the port meanwhile. Linux only (the tests' platform).
/// </summary>
internal sealed class PortReservation : IDisposable
{
    private readonly Socket _reserved;

    public PortReservation()
    {
        _reserved = BindShared(0);
        Port = ((IPEndPoint)_reserved.LocalEndPoint!).Port;
    }

    public int Port { get; }

    /// <summary>A socket bound to the port, to hand to a listener (which then owns it).</summary>
    public Socket ForListener() => BindShared(Port);

    private static Socket BindShared(int port)
    {
        if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException("PortReservation uses Linux's SO_REUSEPORT");
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        const int solSocket = 1, soReusePort = 15;
        socket.SetRawSocketOption(solSocket, soReusePort, BitConverter.GetBytes(1));
        socket.Bind(new IPEndPoint(IPAddress.Loopback, port));
        return socket;
    }

    public void Dispose() => _reserved.Dispose();
}
