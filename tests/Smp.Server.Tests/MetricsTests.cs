using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using Smp.Protocol.Smp;

using static Smp.Server.Tests.Replies;

namespace Smp.Server.Tests;

/// <summary>The "Smp.Server" meter's instruments (docs/server.md, "Metrics and health"), read from one server's own meter.</summary>
public sealed class MetricsTests
{
    /// <summary>Reads the observable instruments of one meter instance, so other servers in the test run do not count.</summary>
    private sealed class MeterReader : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly Dictionary<string, long> _values = [];

        public MeterReader(Meter meter)
        {
            _listener.InstrumentPublished = (instrument, l) =>
            {
                if (ReferenceEquals(instrument.Meter, meter)) l.EnableMeasurementEvents(instrument);
            };
            _listener.SetMeasurementEventCallback<long>((i, v, tags, _) => _values[Name(i, tags)] = v);
            _listener.SetMeasurementEventCallback<int>((i, v, tags, _) => _values[Name(i, tags)] = v);
            _listener.Start();
        }

        private static string Name(Instrument i, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var name = i.Name;
            foreach (var t in tags) name += $"{{{t.Key}={t.Value}}}";
            return name;
        }

        public Dictionary<string, long> Read()
        {
            _values.Clear();
            _listener.RecordObservableInstruments();
            return new Dictionary<string, long>(_values);
        }

        public void Dispose() => _listener.Dispose();
    }

    [Fact]
    public async Task The_meter_counts_connections_queues_messages_refusals_handshake_failures_and_the_journal()
    {
        await using var s = await TestServer.StartAsync(o => o.MaxMessagesPerQueue = 1);
        Assert.Equal(SmpServer.MeterName, s.Server.Meter.Name);
        using var meter = new MeterReader(s.Server.Meter);
        var start = meter.Read();
        Assert.Equal(0, start["smp.server.messages.in"]);
        Assert.Equal(0, start["smp.server.queues"]);
        Assert.Equal(0, start["smp.server.journal.size"]);

        await using (var c = await s.ConnectAsync())
        {
            var (_, sid) = await c.CreateQueueAsync(TestKeys.Recipient);
            Assert.IsType<SmpCommand.Ok>(await c.CommandAsync(null, sid, Send("one")));
            Assert.Equal("one", BodyOf(await c.PushAsync()));
            Assert.Equal(SmpErrorCode.Quota, ErrorOf(await c.CommandAsync(null, sid, Send("too many"))));
            var during = meter.Read();
            Assert.Equal(1, during["smp.server.connections"]);
            Assert.Equal(1, during["smp.server.connections.accepted"]);
            Assert.Equal(1, during["smp.server.queues"]);
            Assert.Equal(1, during["smp.server.messages.in"]);
            Assert.Equal(1, during["smp.server.messages.out"]);
            Assert.Equal(1, during["smp.server.messages.stored"]);
            Assert.Equal(1, during["smp.server.messages.refused{reason=quota}"]);
            Assert.Equal(1, during["smp.server.journal.records"]);
            var journal = Directory.GetFiles(s.DataDirectory, "messages.*.journal").Single();
            Assert.Equal(new FileInfo(journal).Length, during["smp.server.journal.size"]);
        }

        // A client whose handshake does not decrypt is closed; the failure is counted before the close.
        using (var raw = new TcpClient(AddressFamily.InterNetwork))
        {
            await raw.ConnectAsync(IPAddress.Loopback, s.Server.Port);
            var stream = raw.GetStream();
            await stream.WriteAsync(Enumerable.Repeat((byte)0xff, 256).ToArray());
            using var cts = new CancellationTokenSource(TestClient.Timeout);
            var buffer = new byte[1024];
            try
            {
                while (await stream.ReadAsync(buffer, cts.Token) > 0)
                {
                }
            }
            catch (IOException)
            {
                // Closed with a reset: closed all the same.
            }
        }
        Assert.Equal(1, meter.Read()["smp.server.handshake.failures"]);
        Assert.Equal(1, s.Server.Stats.HandshakeFailures);
        Assert.Equal(1, s.Server.Stats.QuotaRefusals);
    }
}
