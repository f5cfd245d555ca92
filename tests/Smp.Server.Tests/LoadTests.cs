using System.Text;
using Smp.Protocol.Smp;
using Smp.Server.Persistence;

namespace Smp.Server.Tests;

/// <summary>Many clients at once, and the memory an idle queue costs; alone, so other tests do not skew either.</summary>
[Collection(nameof(LoadTests))]
[CollectionDefinition(nameof(LoadTests), DisableParallelization = true)]
public sealed class LoadTests
{
    [Fact]
    public async Task Two_hundred_concurrent_connections_lose_no_message()
    {
        // 100 recipients and 100 senders.
        const int clients = 100;
        const int queuesEach = 2;
        const int messagesEach = 3;
        // Generous: on two shared cores hundreds of RSA handshakes queue up behind each other.
        await using var s = await TestServer.StartAsync(o => o.HandshakeTimeout = TimeSpan.FromSeconds(60));
        var recipients = new TestClient[clients];
        var senders = new TestClient[clients];
        try
        {
            foreach (var batch in Enumerable.Range(0, clients).Chunk(25))
            {
                await Task.WhenAll(batch.Select(async i =>
                {
                    recipients[i] = await s.ConnectAsync();
                    senders[i] = await s.ConnectAsync();
                }));
            }
            Assert.Equal(2 * clients, s.Server.Stats.Connections);
            var received = await Task.WhenAll(Enumerable.Range(0, clients).Select(async i =>
            {
                var key = TestKeys.Get(i);
                var r = recipients[i];
                var queues = new List<(byte[] Rid, byte[] Sid)>();
                for (var q = 0; q < queuesEach; q++) queues.Add(await r.CreateQueueAsync(key));
                // Sender i writes to the queues of recipient (i + 1) % clients, so traffic crosses connections.
                var sender = senders[(i + clients - 1) % clients];
                foreach (var (_, sid) in queues)
                {
                    for (var m = 0; m < messagesEach; m++)
                        Assert.IsType<SmpCommand.Ok>(await sender.CommandAsync(null, sid, new SmpCommand.Send(Encoding.ASCII.GetBytes($"{i}:{m}"))));
                }
                var got = new List<string>();
                for (var n = 0; n < queuesEach; n++)
                {
                    var push = await r.PushAsync();
                    var rid = push.QueueId;
                    got.Add(Encoding.ASCII.GetString(Assert.IsType<SmpCommand.Msg>(push.Command).Body.Span));
                    for (var m = 1; m < messagesEach; m++)
                        got.Add(Encoding.ASCII.GetString(Assert.IsType<SmpCommand.Msg>(await r.CommandAsync(key, rid, SmpCommand.AckCommand)).Body.Span));
                    Assert.IsType<SmpCommand.Ok>(await r.CommandAsync(key, rid, SmpCommand.AckCommand));
                }
                return got.Count;
            }));
            Assert.All(received, n => Assert.Equal(queuesEach * messagesEach, n));
            Assert.Equal(clients * queuesEach * messagesEach, s.Server.Stats.MessagesIn);
            Assert.Equal(0, s.Server.Stats.StoredMessages);
        }
        finally
        {
            foreach (var c in recipients.Concat(senders)) if (c is not null) await c.DisposeAsync();
        }
    }

    [Fact]
    public void An_idle_queue_costs_less_than_2_KiB()
    {
        const int count = 100_000;
        var rk = TestKeys.Recipient.ExportSubjectPublicKeyInfo();
        using var bigger = System.Security.Cryptography.RSA.Create(2048);
        var sk = bigger.ExportSubjectPublicKeyInfo();
        var store = QueueStore.Unlogged();
        var before = GC.GetTotalMemory(forceFullCollection: true);
        var rng = new Random(1);
        for (var i = 0; i < count; i++)
        {
            var rid = new byte[12];
            var sid = new byte[12];
            rng.NextBytes(rid);
            rng.NextBytes(sid);
            // Every queue has its own copies of a 2048-bit sender key and a 1024-bit recipient key.
            store.AddUnlogged(new QueueRecord(rid, sid, (byte[])rk.Clone(), (byte[])sk.Clone()));
        }
        var after = GC.GetTotalMemory(forceFullCollection: true);
        var perQueue = (after - before) / count;
        Assert.True(perQueue < 2048, $"{perQueue} bytes per idle queue");
        GC.KeepAlive(store);
    }
}
