using System.Net;
using System.Net.Sockets;

namespace Smp.Agent.Tests;

/// <summary>
/// A loopback port that stays the same while what stands behind it stops and starts: tests restart servers
/// and agents behind it on fresh OS-assigned ports, so no port is ever released and bound again. With no
/// backend it accepts and closes at once, as a host whose service is down.
/// </summary>
internal sealed class TcpGate : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _cts = new();
    private readonly Lock _sync = new();
    private readonly List<(TcpClient Client, TcpClient Backend)> _open = [];
    private readonly Task _accept;
    private int _backend;

    private TcpGate(int backend)
    {
        _backend = backend;
        _listener.Start();
        _accept = AcceptLoopAsync();
    }

    /// <summary>A gate forwarding to <paramref name="backend"/> (0: nothing behind it yet).</summary>
    public static TcpGate Start(int backend = 0) => new(backend);

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>Where new connections go; 0 refuses them. Connections already forwarded are not touched.</summary>
    public int Backend
    {
        get => Volatile.Read(ref _backend);
        set => Volatile.Write(ref _backend, value);
    }

    private async Task AcceptLoopAsync()
    {
        try
        {
            while (true)
            {
                var client = await _listener.AcceptTcpClientAsync(_cts.Token);
                client.NoDelay = true;
                _ = Task.Run(() => ForwardAsync(client));
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
    }

    private async Task ForwardAsync(TcpClient client)
    {
        var backend = new TcpClient { NoDelay = true };
        try
        {
            var port = Backend;
            if (port == 0) return;
            await backend.ConnectAsync(IPAddress.Loopback, port, _cts.Token);
            lock (_sync) _open.Add((client, backend));
            var a = client.GetStream();
            var b = backend.GetStream();
            // Either side ending ends both, as a dropped connection would.
            await Task.WhenAny(a.CopyToAsync(b, _cts.Token), b.CopyToAsync(a, _cts.Token));
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or SocketException or ObjectDisposedException)
        {
        }
        finally
        {
            lock (_sync) _open.Remove((client, backend));
            client.Dispose();
            backend.Dispose();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _cts.CancelAsync();
        _listener.Stop();
        await _accept;
        lock (_sync)
        {
            foreach (var (c, b) in _open)
            {
                c.Dispose();
                b.Dispose();
            }
        }
        _cts.Dispose();
    }
}
