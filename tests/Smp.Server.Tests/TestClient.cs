using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Threading.Channels;
using Smp.Protocol.Crypto;
using Smp.Protocol.Encodings;
using Smp.Protocol.Smp;
using Smp.Protocol.Transport;

namespace Smp.Server.Tests;

/// <summary>
/// A minimal SMP client for tests: handshake through <see cref="SmpTransport.ConnectAsync"/>, signed
/// transmissions out, and every block in, sorted into replies (with a corrId) and pushes (MSG/END/ERR
/// with an empty corrId).
/// </summary>
internal sealed class TestClient : IAsyncDisposable
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);

    private readonly TcpClient _tcp;
    private readonly Channel<SmpTransmission> _replies = Channel.CreateUnbounded<SmpTransmission>();
    private readonly Channel<SmpTransmission> _pushes = Channel.CreateUnbounded<SmpTransmission>();
    private readonly Dictionary<string, SmpTransmission> _early = [];
    private readonly Task _reader;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private int _corr;
    private volatile TaskCompletionSource? _readGate;

    private TestClient(TcpClient tcp, SmpTransport transport, bool read)
    {
        _tcp = tcp;
        Transport = transport;
        _reader = read ? ReadLoopAsync() : Task.CompletedTask;
    }

    public SmpTransport Transport { get; }

    /// <summary>Completes when the server closed the connection.</summary>
    public Task Closed => _reader;

    public static Task<TestClient> ConnectAsync(SmpServer server, bool read = true, int receiveBuffer = 0) =>
        ConnectAsync(server.Address, read, receiveBuffer);

    public static async Task<TestClient> ConnectAsync(SmpServerAddress address, bool read = true, int receiveBuffer = 0)
    {
        var tcp = new TcpClient(AddressFamily.InterNetwork);
        if (receiveBuffer > 0) tcp.ReceiveBufferSize = receiveBuffer;
        await tcp.ConnectAsync(IPAddress.Loopback, address.EffectivePort);
        using var cts = new CancellationTokenSource(Timeout);
        var transport = await SmpTransport.ConnectAsync(tcp.GetStream(), address.KeyHash, cts.Token);
        return new TestClient(tcp, transport, read);
    }

    private async Task ReadLoopAsync()
    {
        await Task.Yield();
        var buffer = new byte[Transport.BlockSize - BlockCipher.TagSize];
        try
        {
            while (true)
            {
                if (_readGate is { } gate) await gate.Task;
                if (!await Transport.ReadAsync(buffer, CancellationToken.None))
                    throw new InvalidOperationException("a server block did not decrypt");
                var copy = buffer.ToArray();
                var t = SmpTransmissionCodec.Parse(copy, copy);
                await (t.CorrId.Length == 0 ? _pushes : _replies).Writer.WriteAsync(t);
            }
        }
        catch (Exception e) when (e is SmpTransportException or IOException or ObjectDisposedException or SocketException)
        {
        }
        finally
        {
            _replies.Writer.TryComplete();
            _pushes.Writer.TryComplete();
        }
    }

    /// <summary>From now on nothing more is read from the socket: a client that stopped reading.</summary>
    public void PauseReading() => _readGate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

    public string NextCorrId() => Interlocked.Increment(ref _corr).ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Sends one transmission, signed with <paramref name="key"/> unless it is null.</summary>
    public async Task SendAsync(RSA? key, string corrId, byte[] queueId, SmpCommand command) =>
        await SendRawAsync(SmpTransmissionCodec.ToBytes(key, Encoding.ASCII.GetBytes(corrId), queueId, command));

    public async Task SendRawAsync(byte[] transmission)
    {
        await _writeLock.WaitAsync();
        try
        {
            await Transport.WriteAsync(transmission, CancellationToken.None);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    public Task SendRawAsync(string transmission) => SendRawAsync(Encoding.ASCII.GetBytes(transmission));

    /// <summary>Writes a block whose tag is corrupted: the server cannot decrypt it but stays in step.</summary>
    public async Task SendTamperedAsync(string transmission)
    {
        await _writeLock.WaitAsync();
        try
        {
            await Transport.WriteTamperedAsync(Encoding.ASCII.GetBytes(transmission), CancellationToken.None);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>Sends and waits for the reply with the same corrId.</summary>
    public async Task<SmpTransmission> RequestAsync(RSA? key, byte[] queueId, SmpCommand command)
    {
        var corrId = NextCorrId();
        await SendAsync(key, corrId, queueId, command);
        return await ReplyAsync(corrId);
    }

    public async Task<SmpCommand> CommandAsync(RSA? key, byte[] queueId, SmpCommand command) =>
        (await RequestAsync(key, queueId, command)).Command ?? throw new InvalidOperationException("reply did not parse");

    public async Task<SmpTransmission> ReplyAsync(string corrId)
    {
        if (_early.Remove(corrId, out var early)) return early;
        using var cts = new CancellationTokenSource(Timeout);
        while (true)
        {
            var t = await _replies.Reader.ReadAsync(cts.Token);
            var c = Encoding.ASCII.GetString(t.CorrId);
            if (c == corrId) return t;
            _early[c] = t;
        }
    }

    /// <summary>The next transmission with an empty corrId (a pushed MSG, END, or ERR BLOCK).</summary>
    public async Task<SmpTransmission> PushAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? Timeout);
        return await _pushes.Reader.ReadAsync(cts.Token);
    }

    public bool TryPush(out SmpTransmission? t) => _pushes.Reader.TryRead(out t);

    public async Task<(byte[] Rid, byte[] Sid)> CreateQueueAsync(RSA recipientKey)
    {
        var reply = await CommandAsync(recipientKey, [], new SmpCommand.New(SmpRsa.ExportPublicKey(recipientKey)));
        var ids = Assert.IsType<SmpCommand.Ids>(reply);
        return (ids.RecipientId, ids.SenderId);
    }

    public async ValueTask DisposeAsync()
    {
        _tcp.Dispose();
        _readGate?.TrySetResult();
        await Transport.DisposeAsync();
        try
        {
            await _reader;
        }
        catch (Exception)
        {
        }
    }
}

/// <summary>Signing keys for tests: 1024-bit (fast), made once per test run.</summary>
internal static class TestKeys
{
    private static readonly Lazy<RSA>[] Pool = [.. Enumerable.Range(0, 8).Select(_ => new Lazy<RSA>(() => RSA.Create(1024)))];

    public static RSA Get(int i) => Pool[i % Pool.Length].Value;

    public static RSA Recipient => Get(0);
    public static RSA Sender => Get(1);
    public static RSA Other => Get(2);
}

/// <summary>An in-process server on a loopback port 0 in a temporary data directory, removed at the end.</summary>
internal sealed class TestServer : IAsyncDisposable
{
    private readonly Microsoft.Extensions.Logging.ILoggerFactory? _loggers;

    private TestServer(string dir, SmpServerOptions options, SmpServer server, Microsoft.Extensions.Logging.ILoggerFactory? loggers)
    {
        DataDirectory = dir;
        Options = options;
        Server = server;
        _loggers = loggers;
    }

    public string DataDirectory { get; }
    public SmpServerOptions Options { get; }
    public SmpServer Server { get; private set; }

    public static string NewDataDirectory() => Directory.CreateTempSubdirectory("smp-server-test-").FullName;

    public static SmpServerOptions DefaultOptions(string dir) => new()
    {
        DataDirectory = dir,
        Port = 0,
        BindAddress = IPAddress.Loopback,
        StatsInterval = TimeSpan.Zero,
        HandshakeTimeout = TimeSpan.FromSeconds(5),
    };

    public static async Task<TestServer> StartAsync(Action<SmpServerOptions>? configure = null, string? dir = null, Microsoft.Extensions.Logging.ILoggerFactory? loggers = null)
    {
        dir ??= NewDataDirectory();
        var options = DefaultOptions(dir);
        configure?.Invoke(options);
        return new TestServer(dir, options, await SmpServer.StartAsync(options, loggers), loggers);
    }

    /// <summary>Stops the server and starts a new one on the same data directory.</summary>
    public async Task RestartAsync()
    {
        await Server.StopAsync();
        Server = await SmpServer.StartAsync(Options, _loggers);
    }

    public Task<TestClient> ConnectAsync(bool read = true) => TestClient.ConnectAsync(Server, read);

    public async ValueTask DisposeAsync()
    {
        await Server.StopAsync();
        try
        {
            Directory.Delete(DataDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>A clock the test moves by hand.</summary>
internal sealed class ManualClock(DateTimeOffset start) : TimeProvider
{
    private long _ticks = start.UtcTicks;

    public override DateTimeOffset GetUtcNow() => new(Interlocked.Read(ref _ticks), TimeSpan.Zero);

    public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
}
