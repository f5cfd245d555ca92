using System.Security.Cryptography;
using System.Threading.Channels;

namespace Smp.Agent.Runtime;

/// <summary>
/// Keys generated in the background. RSA-2048 generation costs ~0.1–0.3 s of CPU and a connection needs
/// several keys, so NEW and JOIN take ready keys instead of waiting (issue: agent performance).
/// </summary>
internal sealed class KeyPool : IDisposable
{
    private readonly Channel<RSA> _ready;
    private readonly int _bits;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _filler;

    public KeyPool(int bits, int size)
    {
        _bits = bits;
        _ready = Channel.CreateBounded<RSA>(new BoundedChannelOptions(Math.Max(1, size)) { SingleReader = false, SingleWriter = true });
        _filler = size > 0 ? Task.Run(FillAsync) : Task.CompletedTask;
    }

    public int Bits => _bits;

    /// <summary>A fresh key: from the pool when one is ready, else made now.</summary>
    public RSA Take() => _ready.Reader.TryRead(out var key) ? key : RSA.Create(_bits);

    private async Task FillAsync()
    {
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                var key = RSA.Create(_bits);
                await _ready.Writer.WriteAsync(key, _stop.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        try
        {
            _filler.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
        }
        while (_ready.Reader.TryRead(out var key)) key.Dispose();
        _stop.Dispose();
    }
}
