using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Smp.Protocol.Encodings;
using Smp.Protocol.Smp;
using Smp.Protocol.Transport;

namespace Smp.LoadGen;

/// <summary>
/// A bare SMP client for load generation: it writes transmissions that were serialised (and signed) in
/// advance, so the generator measures the server and not its own RSA signing. Replies are matched by
/// corrId; pushes (empty corrId) and replies nobody waits for go to the callbacks.
/// </summary>
internal sealed class RawClient : IAsyncDisposable
{
    private readonly TcpClient _tcp;
    private readonly SmpTransport _transport;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly ConcurrentDictionary<string, TaskCompletionSource<SmpCommand>> _waiting = new();
    private readonly Task _reader;

    private RawClient(TcpClient tcp, SmpTransport transport, Action<SmpTransmission>? onPush, Action<SmpTransmission>? onUnmatched)
    {
        _tcp = tcp;
        _transport = transport;
        OnPush = onPush;
        OnUnmatched = onUnmatched;
        _reader = Task.Run(ReadLoopAsync);
    }

    public Action<SmpTransmission>? OnPush { get; }

    public Action<SmpTransmission>? OnUnmatched { get; }

    public static async Task<RawClient> ConnectAsync(SmpServerAddress server, CancellationToken ct,
        Action<SmpTransmission>? onPush = null, Action<SmpTransmission>? onUnmatched = null)
    {
        var tcp = new TcpClient(AddressFamily.InterNetwork) { NoDelay = true };
        try
        {
            await tcp.ConnectAsync(LoopbackOnly(server.Host), server.EffectivePort, ct);
            var transport = await SmpTransport.ConnectAsync(tcp.GetStream(), server.KeyHash, ct);
            return new RawClient(tcp, transport, onPush, onUnmatched);
        }
        catch
        {
            tcp.Dispose();
            throw;
        }
    }

    /// <summary>The generator only ever targets this machine (a load test must not leave it).</summary>
    public static IPAddress LoopbackOnly(string host)
    {
        if (host == "localhost") return IPAddress.Loopback;
        if (IPAddress.TryParse(host, out var ip) && IPAddress.IsLoopback(ip)) return ip;
        throw new ArgumentException($"{host} is not a loopback address; the load generator only targets this machine");
    }

    /// <summary>A whole transmission, signed by <paramref name="key"/>, ready to be written any number of times.</summary>
    public static byte[] Prepare(RSA key, string corrId, byte[] queueId, SmpCommand command) =>
        SmpTransmissionCodec.ToBytes(key, Encoding.ASCII.GetBytes(corrId), queueId, command);

    /// <summary>As <see cref="Prepare(RSA, string, byte[], SmpCommand)"/>, for keys the BCL cannot sign with.</summary>
    public static byte[] Prepare(SigningKey key, string corrId, byte[] queueId, SmpCommand command)
    {
        var signed = SmpTransmissionCodec.SignedPart(Encoding.ASCII.GetBytes(corrId), queueId, command);
        var w = new System.Buffers.ArrayBufferWriter<byte>(signed.Length + 1024);
        SmpTransmissionCodec.WriteWithSignature(w, key.Sign(signed), signed);
        return w.WrittenSpan.ToArray();
    }

    public async ValueTask WriteAsync(ReadOnlyMemory<byte> transmission, CancellationToken ct)
    {
        await _writeLock.WaitAsync(ct);
        try
        {
            await _transport.WriteAsync(transmission, ct);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>Writes a transmission whose corrId is <paramref name="corrId"/> and waits for the reply with that corrId.</summary>
    public async Task<SmpCommand> RequestAsync(string corrId, ReadOnlyMemory<byte> transmission, CancellationToken ct)
    {
        var reply = new TaskCompletionSource<SmpCommand>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_waiting.TryAdd(corrId, reply)) throw new InvalidOperationException($"corrId {corrId} already in flight");
        try
        {
            await WriteAsync(transmission, ct);
            return await reply.Task.WaitAsync(TimeSpan.FromSeconds(30), ct);
        }
        finally
        {
            _waiting.TryRemove(corrId, out _);
        }
    }

    private async Task ReadLoopAsync()
    {
        var buffer = new byte[_transport.BlockSize - BlockCipher.TagSize];
        try
        {
            while (true)
            {
                if (!await _transport.ReadAsync(buffer, CancellationToken.None))
                {
                    Console.Error.WriteLine("a block from the server did not decrypt");
                    continue;
                }
                var t = SmpTransmissionCodec.Parse(buffer);
                if (t.CorrId.Length == 0)
                {
                    OnPush?.Invoke(t);
                }
                else if (_waiting.TryRemove(Encoding.ASCII.GetString(t.CorrId), out var waiter))
                {
                    waiter.TrySetResult(t.Command ?? new SmpCommand.Err(t.Error ?? SmpErrorCode.CmdSyntax));
                }
                else
                {
                    OnUnmatched?.Invoke(t);
                }
            }
        }
        catch (Exception e) when (e is SmpTransportException or IOException or ObjectDisposedException or SocketException)
        {
            // The connection was closed, by us at the end or by the server.
        }
        finally
        {
            foreach (var w in _waiting.Values) w.TrySetException(new IOException("connection closed"));
        }
    }

    public async ValueTask DisposeAsync()
    {
        _tcp.Dispose();
        await _transport.DisposeAsync();
        await _reader;
        _writeLock.Dispose();
    }
}
