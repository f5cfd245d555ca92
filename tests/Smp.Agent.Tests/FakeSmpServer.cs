using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Threading.Channels;
using Smp.Protocol.Crypto;
using Smp.Protocol.Encodings;
using Smp.Protocol.Smp;
using Smp.Protocol.Transport;

namespace Smp.Agent.Tests;

/// <summary>
/// A scripted SMP server for fault injection: it speaks the real handshake and block cipher but answers
/// through <see cref="Handler"/>, and a session can send garbage blocks that still advance the cipher counter.
/// </summary>
internal sealed class FakeSmpServer : IAsyncDisposable
{
    /// <summary>The server transport key must be 2048-bit (smp-wire.md §2); made once per test run.</summary>
    private static readonly Lazy<(RSA Key, byte[] Der)> ServerKey = new(() =>
    {
        var key = RSA.Create(2048);
        return (key, key.ExportSubjectPublicKeyInfo());
    });

    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _cts = new();
    private readonly List<FakeSession> _sessions = [];
    private readonly Lock _sync = new();
    private readonly Task _acceptLoop;

    private FakeSmpServer()
    {
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _acceptLoop = AcceptLoopAsync();
    }

    public static FakeSmpServer Start() => new();

    /// <summary>This fake's address at another port, e.g. a <see cref="TcpGate"/> in front of it.</summary>
    public static SmpServerAddress AddressAt(int port) => new("127.0.0.1", port, KeyHash);

    public int Port { get; }

    public static byte[] KeyHash => SmpRsa.KeyHash(ServerKey.Value.Der);

    public SmpServerAddress Address => new("127.0.0.1", Port, KeyHash);

    /// <summary>Answers each transmission; the default acts as a forgiving server (see <see cref="AnswerNormally"/>).</summary>
    public Func<FakeSession, SmpTransmission, Task> Handler { get; set; } = AnswerNormally;

    /// <summary>Every transmission received, in order, after it was handled.</summary>
    public Channel<(FakeSession Session, SmpTransmission Transmission)> Received { get; } = Channel.CreateUnbounded<(FakeSession, SmpTransmission)>();

    public Channel<FakeSession> Accepted { get; } = Channel.CreateUnbounded<FakeSession>();

    /// <summary>NEW → IDS with fresh ids, PING → PONG, anything else → OK.</summary>
    public static Task AnswerNormally(FakeSession session, SmpTransmission t) => t.Command switch
    {
        SmpCommand.New => session.ReplyAsync(t, new SmpCommand.Ids(RandomNumberGenerator.GetBytes(12), RandomNumberGenerator.GetBytes(12))),
        SmpCommand.Ping => session.ReplyAsync(t, SmpCommand.PongResponse),
        null => session.ReplyAsync(t, new SmpCommand.Err(t.Error ?? SmpErrorCode.Block)),
        _ => session.ReplyAsync(t, SmpCommand.OkResponse),
    };

    public static Task Silent(FakeSession session, SmpTransmission t) => Task.CompletedTask;

    private async Task AcceptLoopAsync()
    {
        try
        {
            while (true)
            {
                var tcp = await _listener.AcceptTcpClientAsync(_cts.Token);
                _ = Task.Run(() => RunSessionAsync(tcp));
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
    }

    private async Task RunSessionAsync(TcpClient tcp)
    {
        FakeSession? session = null;
        try
        {
            session = await FakeSession.AcceptAsync(tcp, ServerKey.Value.Key, ServerKey.Value.Der, _cts.Token);
            lock (_sync) _sessions.Add(session);
            Accepted.Writer.TryWrite(session);
            while (await session.ReadAsync(_cts.Token) is { } t)
            {
                await Handler(session, t);
                Received.Writer.TryWrite((session, t));
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or SocketException or ObjectDisposedException or SmpTransportException)
        {
        }
        finally
        {
            tcp.Dispose();
        }
    }

    /// <summary>Closes the listener and every session, as a server process that goes away.</summary>
    public async ValueTask DisposeAsync()
    {
        await _cts.CancelAsync();
        _listener.Stop();
        await _acceptLoop;
        lock (_sync)
        {
            foreach (var s in _sessions) s.Abort();
        }
        _cts.Dispose();
    }
}

/// <summary>One client connection to the fake server.</summary>
internal sealed class FakeSession
{
    private readonly TcpClient _tcp;
    private readonly Stream _stream;
    private readonly BlockCipher _send;
    private readonly BlockCipher _receive;
    private readonly SemaphoreSlim _writeGate = new(1, 1);

    private FakeSession(TcpClient tcp, BlockCipher send, BlockCipher receive)
    {
        _tcp = tcp;
        _stream = tcp.GetStream();
        _send = send;
        _receive = receive;
    }

    public static async Task<FakeSession> AcceptAsync(TcpClient tcp, RSA key, byte[] keyDer, CancellationToken ct)
    {
        var stream = tcp.GetStream();
        await stream.WriteAsync(Handshake.EncodeServerHeader(Handshake.DefaultBlockSize, keyDer), ct);
        var encrypted = new byte[key.KeySize / 8];
        await stream.ReadExactlyAsync(encrypted, ct);
        if (!SmpRsa.TryDecrypt(key, encrypted, out var plain)) throw new SmpTransportException(TransportError.Handshake);
        var keys = Handshake.DecodeClientKeys(plain, out var blockSize);
        var session = new FakeSession(tcp,
            new BlockCipher(keys.RcvKey, keys.RcvIv, blockSize),
            new BlockCipher(keys.SndKey, keys.SndIv, blockSize));
        await session.SendPlaintextAsync(Handshake.Welcome.ToArray());
        return session;
    }

    /// <summary>The next transmission (parsed with the server's credential rules); null at end of stream.</summary>
    public async Task<SmpTransmission?> ReadAsync(CancellationToken ct)
    {
        var block = new byte[_receive.BlockSize];
        try
        {
            await _stream.ReadExactlyAsync(block, ct);
        }
        catch (EndOfStreamException)
        {
            return null;
        }
        var plain = new byte[_receive.MaxPlaintext];
        return _receive.TryDecrypt(block, plain)
            ? SmpTransmissionCodec.ParseFromClient(plain)
            : new SmpTransmission([], [], [], null, SmpErrorCode.Block);
    }

    public Task ReplyAsync(SmpTransmission request, SmpCommand response) => SendAsync(request.CorrId, request.QueueId, response);

    public Task SendAsync(ReadOnlySpan<byte> corrId, ReadOnlySpan<byte> queueId, SmpCommand command) =>
        SendPlaintextAsync(SmpTransmissionCodec.ToBytes(null, corrId, queueId, command));

    public Task PushAsync(byte[] queueId, SmpCommand command) => SendAsync([], queueId, command);

    /// <summary>Any bytes as a transmission, e.g. one that does not parse.</summary>
    public async Task SendPlaintextAsync(byte[] plaintext)
    {
        var block = new byte[_send.BlockSize];
        await _writeGate.WaitAsync();
        try
        {
            _send.Encrypt(plaintext, block);
            await _stream.WriteAsync(block);
        }
        finally
        {
            _writeGate.Release();
        }
    }

    /// <summary>A block that fails authentication, sent with the counter advanced as a real sender's would be.</summary>
    public async Task SendCorruptBlockAsync()
    {
        var block = new byte[_send.BlockSize];
        await _writeGate.WaitAsync();
        try
        {
            _send.Encrypt("  garbage "u8, block);
            block[^1] ^= 0xFF;
            await _stream.WriteAsync(block);
        }
        finally
        {
            _writeGate.Release();
        }
    }

    public void Abort() => _tcp.Dispose();
}
