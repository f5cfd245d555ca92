using System.Collections.Concurrent;
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Smp.Protocol.Crypto;
using Smp.Protocol.Encodings;
using Smp.Protocol.Smp;

namespace Smp.LoadGen;

/// <summary>
/// Server throughput: one queue per sender/recipient pair, each pair on its own two connections, looping
/// SEND → (MSG pushed to the recipient) → ACK → OK. Latency is SEND written → MSG read.
/// <para>
/// The SEND and ACK of each queue are signed once before the run and written again and again: SMP 0.3.1
/// signatures cover corrId, queue id and command only, so the server accepts a repeated transmission, and
/// the generator spends no CPU on RSA signing while it measures. The server still verifies every one.
/// </para>
/// </summary>
internal static class ServerLoad
{
    /// <summary>Distinct keys per role; the server parses and verifies each transmission's key alike however often it repeats.</summary>
    private const int DistinctKeys = 8;

    private sealed class Pair(int index)
    {
        public int Index { get; } = index;
        public RawClient Recipient { get; set; } = null!;
        public RawClient Sender { get; set; } = null!;
        public byte[] SendTransmission { get; set; } = [];
        public byte[] AckTransmission { get; set; } = [];
        public volatile TaskCompletionSource? Delivered;
        public string AckCorrId => "a" + Index;
    }

    public static async Task RunAsync(Options o, CancellationToken ct)
    {
        var pairCount = o.Int("pairs", 100);
        var duration = o.Time("duration", TimeSpan.FromSeconds(15));
        var warmup = o.Time("warmup", TimeSpan.FromSeconds(3));
        var messageLimit = o.Int("messages", 0);
        var bodySize = o.Int("body-size", 3584);
        var keyBits = o.Int("key-bits", 2048);
        var external = o.Text("server");
        var serverPid = o.Int("server-pid", 0);
        var referenceKeys = o.Flag("reference-keys", false);
        if (serverPid != 0 && external is null) throw new ArgumentException("--server-pid needs --server: the relay must be its own process");

        await using var harness = new Harness();
        var address = external is null ? await harness.StartServerAsync() : SmpServerAddress.Parse(external);
        RawClient.LoopbackOnly(address.Host);
        using var relay = serverPid != 0 ? Process.GetProcessById(serverPid) : null;
        Console.WriteLine($"server {(external is null ? "in-process" : "external")} {address}; {pairCount} pairs, body {bodySize} B, {keyBits}-bit keys{(referenceKeys ? " with huge public exponents (reference style)" : "")}");

        var started = Stopwatch.GetTimestamp();
        var recipientKeys = MakeKeys(keyBits, referenceKeys);
        var senderKeys = MakeKeys(keyBits, referenceKeys);
        var body = Encoding.ASCII.GetBytes(new string('x', bodySize));
        var byRecipientId = new ConcurrentDictionary<string, Pair>();
        long errors = 0, deliveries = 0;
        void OnPush(SmpTransmission t)
        {
            if (t.Command is SmpCommand.Msg && byRecipientId.TryGetValue(Convert.ToBase64String(t.QueueId), out var p))
            {
                Interlocked.Increment(ref deliveries);
                p.Delivered?.TrySetResult();
            }
            else Interlocked.Increment(ref errors);
        }
        void OnUnmatched(SmpTransmission t)
        {
            // SEND replies, which nobody waits for.
            if (t.Command is not SmpCommand.Ok) Interlocked.Increment(ref errors);
        }

        var pairs = Enumerable.Range(0, pairCount).Select(i => new Pair(i)).ToArray();
        foreach (var batch in pairs.Chunk(10))
        {
            await Task.WhenAll(batch.Select(async p =>
            {
                var rk = recipientKeys[p.Index % DistinctKeys];
                var sk = senderKeys[p.Index % DistinctKeys];
                p.Recipient = await RawClient.ConnectAsync(address, ct, OnPush, OnUnmatched);
                p.Sender = await RawClient.ConnectAsync(address, ct, OnPush, OnUnmatched);
                var ids = await p.Recipient.RequestAsync("n" + p.Index, RawClient.Prepare(rk, "n" + p.Index, [], new SmpCommand.New(rk.PublicKey)), ct);
                if (ids is not SmpCommand.Ids { RecipientId: var rid, SenderId: var sid }) throw new InvalidOperationException($"NEW answered {ids}");
                var keyed = await p.Recipient.RequestAsync("k" + p.Index, RawClient.Prepare(rk, "k" + p.Index, rid, new SmpCommand.Key(sk.PublicKey)), ct);
                if (keyed is not SmpCommand.Ok) throw new InvalidOperationException($"KEY answered {keyed}");
                p.SendTransmission = RawClient.Prepare(sk, "s" + p.Index, sid, new SmpCommand.Send(body));
                p.AckTransmission = RawClient.Prepare(rk, p.AckCorrId, rid, SmpCommand.AckCommand);
                byRecipientId[Convert.ToBase64String(rid)] = p;
            }));
        }
        Report.Line("setup (keys, connections, queues)", $"{Report.Seconds(started):F1} s");

        var latencies = new Latencies();
        var perPairLimit = messageLimit > 0 ? (messageLimit + pairCount - 1) / pairCount : int.MaxValue;
        long measured = 0, lost = 0;
        var measureFrom = Stopwatch.GetTimestamp() + (long)(warmup.TotalSeconds * Stopwatch.Frequency);
        var measureUntil = measureFrom + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        using var self = Process.GetCurrentProcess();
        var cpuAtStart = TimeSpan.Zero;
        var cpuTaken = 0;
        var stats0 = harness.Servers.Count > 0 ? harness.Servers[0].Stats : null;
        var window = relay is null ? Task.FromResult<(double, double, long)>(default) : SampleWindowAsync(relay, self, measureFrom, measureUntil, () => Interlocked.Read(ref deliveries), ct);

        await Task.WhenAll(pairs.Select(p => Task.Run(async () =>
        {
            for (var n = 0; n < perPairLimit && !ct.IsCancellationRequested; n++)
            {
                var now = Stopwatch.GetTimestamp();
                if (now >= measureUntil) break;
                if (now >= measureFrom && Interlocked.Exchange(ref cpuTaken, 1) == 0)
                {
                    self.Refresh();
                    cpuAtStart = self.TotalProcessorTime;
                }
                var delivered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                p.Delivered = delivered;
                var t0 = Stopwatch.GetTimestamp();
                await p.Sender.WriteAsync(p.SendTransmission, ct);
                try
                {
                    await delivered.Task.WaitAsync(TimeSpan.FromSeconds(10), ct);
                }
                catch (TimeoutException)
                {
                    Interlocked.Increment(ref lost);
                    break;
                }
                if (t0 >= measureFrom)
                {
                    latencies.AddSince(t0);
                    Interlocked.Increment(ref measured);
                }
                if (await p.Recipient.RequestAsync(p.AckCorrId, p.AckTransmission, ct) is not SmpCommand.Ok) Interlocked.Increment(ref errors);
            }
        }, ct)));
        var elapsed = Stopwatch.GetElapsedTime(measureFrom).TotalSeconds;
        self.Refresh();
        var cpu = (self.TotalProcessorTime - cpuAtStart).TotalSeconds;

        Report.Line("measured window", $"{elapsed:F1} s after {warmup.TotalSeconds:F0} s warm-up");
        Report.Line("messages (SEND -> MSG -> ACK)", $"{measured}");
        Report.Line("throughput", $"{measured / elapsed:F0} msg/s");
        Report.Line("latency SEND -> MSG", $"{latencies.Summary()}");
        Report.Line("process CPU (server + generator)", $"{cpu / elapsed:F2} cores of {Environment.ProcessorCount}");
        if (relay is not null)
        {
            // Both CPU times over the same window, divided by the MSGs delivered within it (steady state).
            var (relayCpu, generatorCpu, inWindow) = await window;
            Report.Line("relay process CPU (--server-pid)", $"{relayCpu / duration.TotalSeconds:F2} cores; {relayCpu * 1e6 / Math.Max(1, inWindow):F0} µs per message ({inWindow} MSGs delivered in the window)");
            Report.Line("generator process CPU", $"{generatorCpu / duration.TotalSeconds:F2} cores; {generatorCpu * 1e6 / Math.Max(1, inWindow):F0} µs per message");
        }
        else Report.Line("process CPU per message (server + generator)", $"{cpu * 1e6 / Math.Max(1, measured):F0} µs");
        Report.Line("errors / lost", $"{Interlocked.Read(ref errors)} / {Interlocked.Read(ref lost)}");
        if (stats0 is not null)
        {
            var stats = harness.Servers[0].Stats;
            Report.Line("server messages in / out (whole run)", $"{stats.MessagesIn - stats0.MessagesIn} / {stats.MessagesOut - stats0.MessagesOut}, stored now {stats.StoredMessages}");
        }
        foreach (var p in pairs)
        {
            await p.Recipient.DisposeAsync();
            await p.Sender.DisposeAsync();
        }
        foreach (var k in recipientKeys.Concat(senderKeys)) k.Dispose();
    }

    /// <summary>CPU seconds of the relay and of this process, and MSGs delivered, between two instants.</summary>
    private static async Task<(double Relay, double Generator, long Delivered)> SampleWindowAsync(
        Process relay, Process self, long from, long until, Func<long> delivered, CancellationToken ct)
    {
        static async Task Until(long at, CancellationToken ct)
        {
            var wait = at - Stopwatch.GetTimestamp();
            if (wait > 0) await Task.Delay(TimeSpan.FromSeconds((double)wait / Stopwatch.Frequency), ct);
        }
        await Until(from, ct);
        relay.Refresh();
        self.Refresh();
        var (relay0, self0, delivered0) = (relay.TotalProcessorTime, self.TotalProcessorTime, delivered());
        await Until(until, ct);
        relay.Refresh();
        self.Refresh();
        return ((relay.TotalProcessorTime - relay0).TotalSeconds, (self.TotalProcessorTime - self0).TotalSeconds, delivered() - delivered0);
    }

    private static SigningKey[] MakeKeys(int bits, bool reference)
    {
        var keys = new SigningKey[DistinctKeys];
        Parallel.For(0, keys.Length, i => keys[i] = reference ? SigningKey.ReferenceStyle(bits) : SigningKey.Ordinary(bits));
        return keys;
    }
}
