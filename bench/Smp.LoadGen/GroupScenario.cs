using System.Diagnostics;
using System.Globalization;
using System.Text;
using Smp.Protocol.Encodings;

namespace Smp.LoadGen;

/// <summary>
/// A group of --members agents (one per member, in this process) on --servers in-process servers. m0 connects
/// directly to every other member, creates the group and adds them one by one; the time of the k-th member
/// is GroupAdd → GALL at both m0 and the member, which includes its connections to the k-1 members before it.
/// Then every member sends --messages to the group at once, and the run waits until all are delivered.
/// </summary>
internal static class GroupScenario
{
    private const string Gid = "bench";

    public static async Task RunAsync(Options o, CancellationToken ct)
    {
        var memberCount = o.Int("members", 5);
        var perMember = o.Int("messages", 4);
        var serverCount = o.Int("servers", 2);
        var keyBits = o.Int("key-bits", 2048);
        var pool = o.Int("key-pool", 8);
        var warm = o.Flag("warm", true);
        var late = o.Flag("late", false);
        await using var harness = new Harness
        {
            GroupViews = o.Flag("views", true),
            GroupHistorySize = o.Int("group-history", new Smp.Agent.AgentOptions().GroupHistorySize),
        };
        using var sent = new SentEnvelopes();
        var servers = new List<SmpServerAddress>();
        for (var i = 0; i < serverCount; i++) servers.Add(await harness.StartServerAsync());
        var members = new Person[memberCount];
        for (var i = 0; i < memberCount; i++)
        {
            var name = "m" + i;
            members[i] = new Person(name, await harness.StartAgentAsync(name, keyBits, pool, servers[i % serverCount]));
        }
        Console.WriteLine($"{memberCount} members on {serverCount} server(s), {keyBits}-bit queue keys, key pool {pool} per agent, views {(harness.GroupViews ? "on" : "off")}");
        var inviter = members[0];

        var started = Stopwatch.GetTimestamp();
        foreach (var m in members.Skip(1)) await inviter.ConnectAsync(m, m.Name, inviter.Name, ct);
        Report.Line("direct connections m0 -> each", $"{memberCount - 1} in {Report.Seconds(started):F1} s");

        await inviter.Agent.GroupNewAsync(inviter.Session, Gid, "benchmark group"u8.ToArray(), ct);
        var joinTimes = new List<string>();
        var joinEnvelopes = new List<long>();
        var groupStarted = Stopwatch.GetTimestamp();
        var envelopesBefore = 0L;
        foreach (var m in members.Skip(1))
        {
            // Not timed: with --warm every addition starts with full key pools (a member joining a group of n
            // uses 4 + 8(n-2) keys, agent.md "Key pool").
            if (warm) await Task.WhenAll(members.Select(x => x.Agent.WhenKeyPoolFullAsync(ct)));
            // Envelopes of the previous join, counted once the group is quiet again (pools full, nothing sent for 1 s).
            if (m != members[1]) joinEnvelopes.Add(await sent.QuietTotalAsync(ct) - envelopesBefore);
            envelopesBefore = await sent.QuietTotalAsync(ct);
            var t0 = Stopwatch.GetTimestamp();
            await inviter.Agent.GroupAddAsync(Gid, m.Name, ct);
            var ginv = await m.WaitAsync(inviter.Name, "GINV", ct);
            var invId = Convert.FromBase64String(Person.Text(ginv).Split(' ')[1]);
            await m.Agent.GroupJoinAsync(m.Session, Gid, invId, ct);
            await inviter.WaitAsync(Gid, "GALL " + m.Name, ct, TimeSpan.FromMinutes(5));
            await m.WaitAsync(Gid, "GALL " + inviter.Name, ct, TimeSpan.FromMinutes(5));
            var seconds = Report.Seconds(t0);
            joinTimes.Add(seconds.ToString("F1", CultureInfo.InvariantCulture));
            Console.WriteLine($"  member {m.Name} (#{joinTimes.Count + 1}) reached GALL in {seconds:F1} s");
        }
        Report.Line("group complete", $"{Report.Seconds(groupStarted):F1} s for {memberCount - 1} additions (with the untimed pool refills)");
        if (warm) await Task.WhenAll(members.Select(x => x.Agent.WhenKeyPoolFullAsync(ct)));
        joinEnvelopes.Add(await sent.QuietTotalAsync(ct) - envelopesBefore);
        Report.Line("envelopes sent per join (all agents), in order", $"{string.Join(" ", joinEnvelopes)}");
        Report.Line($"key pool {members[^1].Name}", $"{members[^1].Agent.KeyPoolStatus}");
        Report.Line("n-th member to GALL (s), in order", $"{string.Join(' ', joinTimes)}");

        // Every member's GCON for every other member has come before the messages are timed. With --warm the
        // pools' refill (up to 4 + 8 (n - 2) keys at the newest member) ends first too: its threads would
        // share the cores with the messages.
        if (warm) await Task.WhenAll(members.Select(x => x.Agent.WhenKeyPoolFullAsync(ct)));
        var messageStart = Stopwatch.GetTimestamp();
        var latencies = new Latencies();
        var sentAt = new Dictionary<string, long>();
        foreach (var m in members)
            for (var i = 0; i < perMember; i++) sentAt[$"{m.Name}-{i}"] = 0;
        await Task.WhenAll(members.Select(m => Task.Run(async () =>
        {
            for (var i = 0; i < perMember; i++)
            {
                var key = $"{m.Name}-{i}";
                lock (sentAt) sentAt[key] = Stopwatch.GetTimestamp();
                await m.Agent.GroupSendAsync(Gid, Encoding.ASCII.GetBytes(key), ct);
            }
        }, ct)).Concat(members.Select(m => Task.Run(async () =>
        {
            for (var got = 0; got < perMember * (memberCount - 1); got++)
            {
                var msg = await m.WaitAsync(Gid, "GMSG", ct, TimeSpan.FromMinutes(5));
                var text = Person.Text(msg);
                var key = text[(text.IndexOf('\n') + 1)..];
                long t0;
                lock (sentAt) t0 = sentAt[key];
                latencies.AddSince(t0);
            }
        }, ct))));
        var total = Report.Seconds(messageStart);
        var messages = memberCount * perMember;
        Report.Line("group messages sent", $"{messages} ({perMember} per member, all at once)");
        Report.Line("deliveries", $"{messages * (memberCount - 1)} in {total:F1} s");
        Report.Line("throughput", $"{messages / total:F1} group msg/s = {messages * (memberCount - 1) / total:F1} deliveries/s");
        Report.Line("latency GroupSendAsync -> GMSG", $"{latencies.Summary()}");

        // --late: one more member joins after the messages, and gets the group's history (groups.md §6.6.2).
        if (!late) return;
        var newcomer = new Person("late", await harness.StartAgentAsync("late", keyBits, pool, servers[memberCount % serverCount]));
        await inviter.ConnectAsync(newcomer, newcomer.Name, inviter.Name, ct);
        if (warm) await Task.WhenAll(members.Append(newcomer).Select(x => x.Agent.WhenKeyPoolFullAsync(ct)));
        var lateStart = Stopwatch.GetTimestamp();
        await inviter.Agent.GroupAddAsync(Gid, newcomer.Name, ct);
        var lateInv = await newcomer.WaitAsync(inviter.Name, "GINV", ct);
        await newcomer.Agent.GroupJoinAsync(newcomer.Session, Gid, Convert.FromBase64String(Person.Text(lateInv).Split(' ')[1]), ct);
        await inviter.WaitAsync(Gid, "GALL " + newcomer.Name, ct, TimeSpan.FromMinutes(5));
        var history = 0;
        while (true)
        {
            var e = await newcomer.WaitAsync(Gid, "G", ct, TimeSpan.FromMinutes(5));
            var text = Person.Text(e);
            if (text.StartsWith("GHMSG ", StringComparison.Ordinal)) history++;
            if (text == "GALL " + inviter.Name) break;
        }
        Report.Line("late member to GALL", $"{Report.Seconds(lateStart):F1} s, {history} GHMSG before GALL");
    }
}

/// <summary>The sum of every in-process agent's smp.agent.messages.sent (envelopes the relays accepted).</summary>
internal sealed class SentEnvelopes : IDisposable
{
    private readonly System.Diagnostics.Metrics.MeterListener _listener = new();
    private long _sum;

    public SentEnvelopes()
    {
        _listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == Smp.Agent.SmpAgent.MeterName && instrument.Name == "smp.agent.messages.sent") l.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref _sum, value));
        _listener.Start();
    }

    public long Total()
    {
        Interlocked.Exchange(ref _sum, 0);
        _listener.RecordObservableInstruments();
        return Interlocked.Read(ref _sum);
    }

    /// <summary>The total once it has not moved for a second (polled: a benchmark, not a test).</summary>
    public async Task<long> QuietTotalAsync(CancellationToken ct)
    {
        var last = Total();
        while (true)
        {
            await Task.Delay(TimeSpan.FromSeconds(1), ct);
            var now = Total();
            if (now == last) return now;
            last = now;
        }
    }

    public void Dispose() => _listener.Dispose();
}

