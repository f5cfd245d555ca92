using System.Diagnostics;
using System.Text;
using Smp.Protocol.Crypto;
using Smp.Protocol.Smp;

namespace Smp.LoadGen;

/// <summary>
/// Memory per idle queue: an in-process server, queues created over the wire (NEW, then KEY with a 2048-bit
/// sender key unless --secure false), measured as managed-heap and working-set deltas. "Idle" is measured
/// after the creating connection has gone, so no subscription is held; the figure with the connection still
/// open (every queue subscribed) is shown too.
/// </summary>
internal static class ServerMemory
{
    public static async Task RunAsync(Options o, CancellationToken ct)
    {
        var queues = o.Int("queues", 100_000);
        var secure = o.Flag("secure", true);
        var keyBits = o.Int("key-bits", 1024);
        var window = o.Int("window", 32);

        await using var harness = new Harness();
        var address = await harness.StartServerAsync();
        var server = harness.Servers[0];
        using var recipientKey = SmpRsa.Generate(keyBits);
        using var senderKey = SmpRsa.Generate(2048);
        var senderSpki = SmpRsa.ExportPublicKey(senderKey);
        var newCommand = new SmpCommand.New(SmpRsa.ExportPublicKey(recipientKey));
        // NEW creates a queue however often it is repeated, so each window slot signs its NEW once.
        var newTransmissions = Enumerable.Range(0, window).Select(s => RawClient.Prepare(recipientKey, "n" + s, [], newCommand)).ToArray();
        Console.WriteLine($"{queues} queues, recipient key {keyBits} bits, {(secure ? "secured with a 2048-bit sender key (KEY)" : "not secured")}, {window} requests in flight");

        var before = Report.Memory();
        var client = await RawClient.ConnectAsync(address, ct);
        var started = Stopwatch.GetTimestamp();
        var next = 0;
        await Task.WhenAll(Enumerable.Range(0, window).Select(slot => Task.Run(async () =>
        {
            while (Interlocked.Increment(ref next) <= queues)
            {
                var ids = await client.RequestAsync("n" + slot, newTransmissions[slot], ct);
                if (ids is not SmpCommand.Ids { RecipientId: var rid }) throw new InvalidOperationException($"NEW answered {ids}");
                if (!secure) continue;
                // KEY names the queue, so it is signed here, one per queue.
                var keyed = await client.RequestAsync("k" + slot, RawClient.Prepare(recipientKey, "k" + slot, rid, new SmpCommand.Key(senderSpki)), ct);
                if (keyed is not SmpCommand.Ok) throw new InvalidOperationException($"KEY answered {keyed}");
            }
        }, ct)));
        var seconds = Report.Seconds(started);
        Report.Line("created", $"{server.Stats.Queues} queues in {seconds:F1} s ({queues / seconds:F0}/s)");

        var subscribed = Report.Memory();
        await client.DisposeAsync();
        for (var i = 0; i < 500 && server.Stats.Connections > 0; i++) await Task.Delay(10, ct);
        var idle = Report.Memory();

        Report.Line("heap / working set before", $"{before.Heap / 1048576.0:F1} MiB / {before.WorkingSet / 1048576.0:F1} MiB");
        Report.Line("subscribed: heap per queue", $"{(subscribed.Heap - before.Heap) / (double)queues:F0} B");
        Report.Line("idle: heap per queue", $"{(idle.Heap - before.Heap) / (double)queues:F0} B");
        Report.Line("idle: working set per queue", $"{(idle.WorkingSet - before.WorkingSet) / (double)queues:F0} B (includes freed but unreturned GC segments)");
        GC.KeepAlive(server);
    }
}
