using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Smp.Agent.Groups;
using Smp.Agent.Store;
using Smp.Agent.Smp;
using Smp.Agent.Tests;
using Smp.Protocol.Agent;
using Smp.Protocol.Encodings;
using Smp.Server;

namespace Smp.Agent.Simulation;

/// <summary>An invariant that did not hold, or an operation the driver could not finish.</summary>
public sealed record SimViolation(string Invariant, string Detail)
{
    public override string ToString() => $"{Invariant}: {Detail}";
}

/// <summary>How one schedule went.</summary>
public sealed record SimResult(int Seed, IReadOnlyList<SimViolation> Violations, IReadOnlyList<string> Notes, string Schedule, TimeSpan Elapsed, string Stats)
{
    public bool Passed => Violations.Count == 0;

    /// <summary>Violations counted by invariant, e.g. "pairs×2 messages.missing×5".</summary>
    public string Tally() => string.Join(' ', Violations.GroupBy(v => v.Invariant).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => $"{g.Key}×{g.Count()}"));

    public string Report(int maxViolations = 30)
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"seed {Seed}: {(Passed ? "passed" : "FAILED " + Tally())} in {Elapsed.TotalSeconds:F0} s; {Stats}\n");
        foreach (var v in Violations.Take(maxViolations)) sb.Append("  ").Append(v).Append('\n');
        if (Violations.Count > maxViolations) sb.Append(CultureInfo.InvariantCulture, $"  … {Violations.Count - maxViolations} more\n");
        foreach (var n in Notes.Take(40)) sb.Append("  note: ").Append(n).Append('\n');
        sb.Append(Schedule);
        return sb.ToString();
    }
}

/// <summary>
/// Runs a <see cref="SimSchedule"/> on in-process servers (each behind a <see cref="TcpGate"/>, so that an outage
/// keeps its address) and agents in a temporary directory, then checks it with <see cref="GroupSimChecker"/>.
/// Waits are for notifications or polled conditions, each bounded; the only delays are the schedule's own
/// fault durations (an agent's or a server's time down).
/// </summary>
public sealed class GroupSimulation : IAsyncDisposable
{
    public const string Gid = "g";

    private readonly SimSchedule _schedule;
    private readonly GroupSimOptions _o;
    private readonly Action<string> _log;
    private readonly Action<string>? _agentLogs;
    private readonly LogLevel _agentLogLevel;
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("smp-group-sim-");
    private readonly List<ServerSlot> _servers = [];
    private readonly SimAgent[] _agents;
    private readonly List<SimSent> _sent = [];
    private readonly List<long> _settlePoints = [];
    private readonly List<SimViolation> _violations = [];
    private readonly List<string> _notes = [];
    private long _clock;
    private int _opsRun, _opsSkipped;

    private sealed class ServerSlot(string name, TcpGate gate)
    {
        public string Name { get; } = name;
        public TcpGate Gate { get; } = gate;
        public SmpServer? Server { get; set; }
        public SmpServerAddress Address { get; set; } = null!;
    }

    private GroupSimulation(SimSchedule schedule, Action<string>? log, LogLevel agentLogLevel)
    {
        _agentLogLevel = agentLogLevel;
        _schedule = schedule;
        _o = schedule.Options;
        _log = log ?? (_ => { });
        _agentLogs = log;
        _agents = Enumerable.Range(0, _o.Agents).Select(i => new SimAgent(i)).ToArray();
    }

    /// <summary>
    /// Generates the schedule of <paramref name="seed"/>, runs and checks it. With a <paramref name="log"/>, the
    /// rounds, settles and the agents' own log from <paramref name="agentLogLevel"/> up go to it (Debug adds
    /// what introduction races and relays decide).
    /// </summary>
    public static Task<SimResult> RunAsync(int seed, GroupSimOptions options, Action<string>? log = null, CancellationToken ct = default,
        LogLevel agentLogLevel = LogLevel.Information) =>
        RunAsync(SimSchedule.Generate(seed, options), log, ct, agentLogLevel);

    public static async Task<SimResult> RunAsync(SimSchedule schedule, Action<string>? log = null, CancellationToken ct = default,
        LogLevel agentLogLevel = LogLevel.Information)
    {
        await using var sim = new GroupSimulation(schedule, log, agentLogLevel);
        return await sim.RunAsync(ct);
    }

    private long Tick() => Interlocked.Increment(ref _clock);

    private void Note(string text)
    {
        lock (_notes) _notes.Add(text);
    }

    private void Fail(string invariant, string detail)
    {
        lock (_violations) _violations.Add(new SimViolation(invariant, detail));
        _log($"seed {_schedule.Seed}: {invariant}: {detail}");
    }

    private async Task<SimResult> RunAsync(CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        for (var s = 0; s < _o.Servers; s++)
        {
            var slot = new ServerSlot("s" + s, TcpGate.Start());
            _servers.Add(slot);
            await StartServerAsync(slot);
        }
        await Task.WhenAll(_agents.Select(a => StartAgentAsync(a, first: true)));
        var creator = _agents[0];
        await creator.Agent.GroupNewAsync(creator.Session, Gid, "simulation"u8.ToArray(), ct);
        creator.Member = true;
        creator.JoinClock = Tick();

        // A settle that fails is recorded and the schedule goes on, so that one broken pair does not hide what
        // the rest of the schedule would find; only the last settle's violations are reported in detail.
        for (var r = 0; r < _schedule.Rounds.Count; r++)
        {
            var round = _schedule.Rounds[r];
            _log($"seed {_schedule.Seed} round {r}: {string.Join("; ", round.Ops)}");
            var index = r;
            await Task.WhenAll(round.Ops.Select((op, i) => RunOpAsync(index, i, op, ct)));
            if (round.SettleAfter) await SettleAsync($"after round {r}", final: false, ct);
        }
        await SettleAsync("before the final sends", final: false, ct);
        // Every member sends once more after everything settled: what every configuration must deliver.
        await Task.WhenAll(_agents.Where(a => a.Member).Select(a => RunOpAsync(_schedule.Rounds.Count, a.Index, new SimSend(a.Index, 1), ct)));
        await SettleAsync("at the end", final: true, ct);
        var elapsed = Stopwatch.GetElapsedTime(started);
        int deliveries = _agents.Sum(a => a.DeliveryCount), errors = _agents.Sum(a => a.ErrorCount);
        foreach (var a in _agents)
        {
            foreach (var e in a.ErrorsSeen()) Note($"{a.Name} was told {e}");
            if (a.NotOkIntegrity > 0) Note($"{a.Name}: {a.NotOkIntegrity} GMSG with integrity other than OK");
        }
        var stats = $"{_opsRun} operations run, {_opsSkipped} skipped, {_sent.Count} messages sent, {deliveries} deliveries, {errors} ERR notifications, " +
                    $"{_agents.Count(a => a.Member)} members at the end";
        return new SimResult(_schedule.Seed, _violations.ToList(), _notes.ToList(), _schedule.ToString(), elapsed, stats);
    }

    private async Task RunOpAsync(int round, int index, SimOp op, CancellationToken ct)
    {
        try
        {
            var ran = op switch
            {
                SimAdd add => await AddAsync(_agents[add.Inviter], _agents[add.Invitee], add.Accept, ct),
                SimLeave leave => await LeaveAsync(_agents[leave.Member], ct),
                SimRemove remove => await RemoveAsync(_agents[remove.Remover], _agents[remove.Target], ct),
                SimSend send => _agents[send.Author].Member && await SendAsync(_agents[send.Author], round < _schedule.Rounds.Count ? $"{round}-{index}" : "final", send.Count, ct),
                SimRestart restart => await RestartAsync(_agents[restart.Agent], restart.DownMillis),
                SimOutage outage => await OutageAsync(_servers[outage.Server], outage.Millis),
                _ => throw new ArgumentOutOfRangeException(nameof(op)),
            };
            if (ran) Interlocked.Increment(ref _opsRun);
            else
            {
                Interlocked.Increment(ref _opsSkipped);
                Note($"round {round}: skipped '{op}': its preconditions no longer held");
            }
        }
        catch (AgentProtocolException e)
        {
            // A command refused because of what happened meanwhile (a member not known yet, a group left): the
            // operation did nothing, as the spec promises for a refused command.
            Interlocked.Increment(ref _opsSkipped);
            Note($"round {round}: '{op}' refused: {e.Error}");
        }
        catch (TimeoutException e)
        {
            Fail("driver", $"round {round}, '{op}': {e.Message}");
        }
    }

    // --- operations ---

    private static string DirectAlias(int to) => "d-a" + to.ToString(CultureInfo.InvariantCulture);

    /// <summary>A direct connection between x and y (as "d-aY" at x and "d-aX" at y), made once and kept.</summary>
    private async Task EnsureDirectAsync(SimAgent x, SimAgent y, CancellationToken ct)
    {
        if (x.DirectTo.Contains(y.Index)) return;
        var (_, invitation) = await WhileServerDownAsync(() => x.Agent.NewAsync(x.Session, DirectAlias(y.Index), ct), ct);
        await WhileServerDownAsync(() => y.Agent.JoinAsync(y.Session, "j", DirectAlias(x.Index), invitation, noReply: false, ct), ct);
        await y.WaitAsync(DirectAlias(x.Index), "CON", _o.Patience);
        await x.WaitAsync(DirectAlias(y.Index), "CON", _o.Patience);
        x.DirectTo.Add(y.Index);
        y.DirectTo.Add(x.Index);
    }

    /// <summary>
    /// NEW and JOIN talk to a server before they answer: during an outage of the schedule they get BROKER
    /// NETWORK (or a timeout), and the command changed nothing. Tried again, bounded, so that an outage does
    /// not turn an add into a skipped one and the schedule away from what the generator meant.
    /// </summary>
    private async Task<T> WhileServerDownAsync<T>(Func<Task<T>> command, CancellationToken ct)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(_o.Patience.TotalSeconds * Stopwatch.Frequency);
        while (true)
        {
            try
            {
                return await command();
            }
            catch (AgentProtocolException e) when (e.Error.ToString().StartsWith("BROKER ", StringComparison.Ordinal) && Stopwatch.GetTimestamp() < deadline)
            {
                await Task.Delay(200, ct);
            }
        }
    }

    private async Task<bool> AddAsync(SimAgent inviter, SimAgent invitee, bool accept, CancellationToken ct)
    {
        if (!inviter.Member || invitee.Member) return false;
        await EnsureDirectAsync(inviter, invitee, ct);
        // One removed while connected to nobody live was never told, and holds the group with nobody in it
        // (its client got GEMPTY, groups.md §10): its user leaves it before joining again.
        if (await GroupStatusAsync(invitee) == GroupStatus.Active && !(await invitee.Agent.GroupMembersAsync(Gid, ct)).Any(m => m.Status.IsLive()))
        {
            Note($"{invitee.Name}, removed and alone, leaves the group before it is added again");
            await invitee.Agent.GroupLeaveAsync(Gid, ct);
        }
        // A member that was removed joins again only once it knows it was removed (otherwise its GJOIN is
        // refused GROUP DUPLICATE, rightly): wait for that, bounded.
        await WaitUntilAsync(async () => (await GroupStatusAsync(invitee)) is not (GroupStatus.Active or GroupStatus.Leaving), _o.SettleQuiet,
            $"{invitee.Name} still has the group active after it departed", ct);
        await inviter.Agent.GroupAddAsync(Gid, DirectAlias(invitee.Index), ct);
        var ginv = await InvitationAsync(inviter, invitee);
        if (ginv is null)
        {
            Note($"{inviter.Name}'s invitation of {invitee.Name} ended before its G_INV went out");
            return true;
        }
        var invId = Convert.FromBase64String(ginv.Split(' ')[1]);
        if (accept)
        {
            await invitee.Agent.GroupJoinAsync(invitee.Session, Gid, invId, ct);
            invitee.JoinClock = Tick();
            invitee.Member = true;
        }
        else
        {
            await invitee.Agent.GroupRejectAsync(DirectAlias(inviter.Index), invId, ct);
        }
        return true;
    }

    /// <summary>
    /// The invitee's GINV; null when the invitation ended at the inviter before its G_INV was queued (its own
    /// join failed meanwhile, or it left): then none comes, nor a withdrawal (groups.md §6.7).
    /// </summary>
    private async Task<string?> InvitationAsync(SimAgent inviter, SimAgent invitee)
    {
        var ginv = invitee.WaitAsync(DirectAlias(inviter.Index), "GINV ", _o.Patience);
        while (!ginv.IsCompleted)
        {
            var changed = inviter.NextOutput;
            var record = await inviter.Agent.Store.TransactAsync(tx =>
                tx.ListMembers(Gid).Where(m => m.DirectAlias == DirectAlias(invitee.Index)).MaxBy(m => m.Id));
            if (record is { Status: not MemberStatus.Invited, GroupConn.Length: 0 } && !ginv.IsCompleted) return null;
            await Task.WhenAny(ginv, changed);
        }
        return await ginv;
    }

    /// <summary>
    /// The generator keeps more than two members, assuming every add succeeds; when some did not, departures
    /// are skipped too, so that a schedule does not empty its group and skip the rest.
    /// </summary>
    private readonly Lock _departures = new();

    private bool FewMembers => _agents.Count(a => a.Member) <= 2;

    /// <summary>Removals answered OK since the last settle, by remover; under <see cref="_departures"/>.</summary>
    private readonly Dictionary<int, List<int>> _removedBy = [];

    /// <summary>
    /// Targets whose removal may not take effect: their remover was removed itself before the next settle, so
    /// its G_MDEL may have reached nobody (the others deleted their queues from it; groups.md §10). The group
    /// agrees either way; each settle takes the outcome from the target's own state. Under <see cref="_departures"/>.
    /// </summary>
    private readonly HashSet<int> _uncertain = [];

    /// <summary>
    /// What the remover was connected to when it removed each target (agent indices), since the last settle;
    /// under <see cref="_departures"/>. Its G_MDEL goes out on those connections only.
    /// </summary>
    private readonly Dictionary<int, HashSet<int>> _removalLinks = [];

    /// <summary>
    /// Targets of removals whose remover left before the next settle; under <see cref="_departures"/>. When every
    /// member the remover was connected to (the target not among them) is gone by the settle, its G_MDEL may have
    /// reached nobody live, and nobody is left to carry it (groups.md §10, "Removal is not confirmed").
    /// </summary>
    private readonly List<int> _removedByLeavers = [];

    private async Task<bool> LeaveAsync(SimAgent m, CancellationToken ct)
    {
        lock (_departures)
        {
            if (!m.Member || FewMembers) return false;
            m.Member = false;
            if (_removedBy.Remove(m.Index, out var ours)) _removedByLeavers.AddRange(ours);
        }
        await m.Agent.GroupLeaveAsync(Gid, ct);
        return true;
    }

    /// <summary>
    /// <paramref name="remover"/> is out of the group: what it removed may have reached nobody, so each of those
    /// targets is a member while its own group is active (<see cref="ResolveUncertainRemovalsAsync"/>). Under the lock.
    /// </summary>
    private void RemovalsMayBeVoid(SimAgent remover, string what)
    {
        if (!_removedBy.Remove(remover.Index, out var ours)) return;
        _uncertain.UnionWith(ours);
        Note($"{remover.Name} {what} {string.Join(", ", ours.Select(i => _agents[i].Name))} may not have reached anyone");
    }

    private async Task<bool> RemoveAsync(SimAgent remover, SimAgent target, CancellationToken ct)
    {
        if (!remover.Member || !target.Member) return false;
        var targetId = await OwnMemberIdAsync(target);
        var members = await remover.Agent.GroupMembersAsync(Gid, ct);
        var record = targetId is null ? null : members
            .FirstOrDefault(m => m.MemberId is { } id && id.AsSpan().SequenceEqual(targetId) && m.Status is GroupMemberStatus.Invited or GroupMemberStatus.Joining or GroupMemberStatus.Connected);
        if (record is null)
        {
            Note($"{remover.Name} has no live record of {target.Name} to remove");
            return false;
        }
        var links = await ConnectedAgentsAsync(remover, members);
        lock (_departures)
        {
            if (FewMembers) return false;
            target.Member = false;
            RemovalsMayBeVoid(target, "is removed while its own removals of");
        }
        try
        {
            await remover.Agent.GroupRemoveAsync(Gid, record.Alias, ct);
        }
        catch (AgentProtocolException)
        {
            target.Member = true;
            throw;
        }
        lock (_departures)
        {
            if (!remover.Member)
            {
                _uncertain.Add(target.Index);
                Note($"{remover.Name} was removed while removing {target.Name}");
            }
            else
            {
                if (!_removedBy.TryGetValue(remover.Index, out var list)) _removedBy[remover.Index] = list = [];
                list.Add(target.Index);
                _removalLinks[target.Index] = links;
            }
        }
        return true;
    }

    private async Task<bool> SendAsync(SimAgent author, string step, int count, CancellationToken ct)
    {
        for (var i = 0; i < count; i++)
        {
            var body = $"s{_schedule.Seed}-{step}-{author.Name}-{i}";
            var at = Tick();
            await author.Agent.GroupSendAsync(Gid, Encoding.UTF8.GetBytes(body), ct);
            lock (_sent) _sent.Add(new SimSent(body, author.Index, at, author.NextSeq++));
        }
        return true;
    }

    private async Task<bool> RestartAsync(SimAgent a, int downMillis)
    {
        await a.StopAsync();
        if (downMillis > 0) await Task.Delay(downMillis);
        await StartAgentAsync(a, first: false);
        return true;
    }

    private async Task<bool> OutageAsync(ServerSlot slot, int millis)
    {
        slot.Gate.Backend = 0;
        if (slot.Server is { } server) await server.DisposeAsync();
        slot.Server = null;
        await Task.Delay(millis);
        await StartServerAsync(slot);
        return true;
    }

    // --- servers and agents ---

    private async Task StartServerAsync(ServerSlot slot)
    {
        var server = await SmpServer.StartAsync(new SmpServerOptions
        {
            DataDirectory = Path.Combine(_dir.FullName, slot.Name),
            Port = 0,
            BindAddress = IPAddress.Loopback,
            StatsInterval = TimeSpan.Zero,
            HandshakeTimeout = TimeSpan.FromSeconds(30),
        });
        slot.Server = server;
        slot.Gate.Backend = server.Port;
        slot.Address = new SmpServerAddress("127.0.0.1", slot.Gate.Port, server.Address.KeyHash);
    }

    private async Task StartAgentAsync(SimAgent a, bool first)
    {
        a.Options ??= new AgentOptions
        {
            Servers = [_servers[a.Index % _servers.Count].Address],
            DatabasePath = Path.Combine(_dir.FullName, a.Name + ".db"),
            KeyBits = _o.KeyBits,
            KeyPoolSize = _o.KeyPoolSize,
            RetryInitialDelay = TimeSpan.FromMilliseconds(20),
            RetryMaxDelay = TimeSpan.FromMilliseconds(500),
            IntroductionTimeout = _o.IntroductionTimeout,
            // Scaled down with the retry delays: a farewell behind a HELLO that meets AUTH for good (the peer
            // deleted its queue) must not outlast a settle.
            DropHelloLimit = TimeSpan.FromSeconds(10),
            ReorderHoldLimit = _o.ReorderHoldLimit,
            SmpClient = new SmpClientOptions
            {
                RequestTimeout = TimeSpan.FromSeconds(8),
                ConnectTimeout = TimeSpan.FromSeconds(8),
                ReconnectInitialDelay = TimeSpan.FromMilliseconds(20),
                ReconnectMaxDelay = TimeSpan.FromMilliseconds(200),
            },
            MetricsStoreCache = TimeSpan.Zero,
            // Verbose: the agents' own log too (servers down and up, refused envelopes, failed commands).
            LoggerFactory = _agentLogs is null ? NullLoggerFactory.Instance : new SimLoggerFactory(a.Name, _agentLogs, _agentLogLevel),
        };
        a.Agent = await SmpAgent.StartAsync(a.Options);
        a.Session = a.Agent.Connect(a.Name);
        // After a restart the new session takes every connection and the group back; what was stored and not
        // yet written to the old session comes again, nothing already written does (the reader reports each
        // output delivered before it reads the next).
        if (!first) await a.Agent.SubscribeAllAsync(a.Session);
        a.StartReader(_o.HistoryNotification);
        a.MarkUp();
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var a in _agents) await a.StopAsync();
        foreach (var slot in _servers)
        {
            if (slot.Server is { } server) await server.DisposeAsync();
            await slot.Gate.DisposeAsync();
        }
        try
        {
            _dir.Delete(recursive: true);
        }
        catch (IOException)
        {
        }
    }

    // --- settling and observing ---

    private static Task<GroupStatus?> GroupStatusAsync(SimAgent a) => ReadStoreAsync(a, tx => tx.GetGroup(Gid)?.Status);

    private static Task<byte[]?> OwnMemberIdAsync(SimAgent a) =>
        ReadStoreAsync(a, tx => tx.GetGroup(Gid) is { Status: GroupStatus.Active } g ? g.MemberId : null);

    /// <summary>
    /// Reads another agent's store while operations of the same round may restart it: a read that meets the
    /// store disposed by a stop waits for the agent to be up again and reads its new store (seed 8933).
    /// </summary>
    private static async Task<T> ReadStoreAsync<T>(SimAgent a, Func<StoreTx, T> read)
    {
        while (true)
        {
            await a.Up;
            var agent = a.Agent;
            try
            {
                return await agent.Store.TransactAsync(read);
            }
            catch (ObjectDisposedException) when (!ReferenceEquals(agent, a.Agent) || !a.Up.IsCompleted)
            {
            }
        }
    }

    /// <summary>The agents whose current member id <paramref name="a"/> holds as CONNECTED in its <paramref name="members"/>.</summary>
    private async Task<HashSet<int>> ConnectedAgentsAsync(SimAgent a, IEnumerable<GroupMemberInfo> members)
    {
        var connected = members.Where(m => m.Status == GroupMemberStatus.Connected && m.MemberId is not null).ToList();
        var links = new HashSet<int>();
        foreach (var x in _agents.Where(x => x != a))
            if (await OwnMemberIdAsync(x) is { } id && connected.Any(m => m.MemberId.AsSpan().SequenceEqual(id))) links.Add(x.Index);
        return links;
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan patience, string what, CancellationToken ct)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(patience.TotalSeconds * Stopwatch.Frequency);
        while (!await condition())
        {
            if (Stopwatch.GetTimestamp() > deadline) throw new TimeoutException($"{what} (waited {patience.TotalSeconds:F0} s)");
            await Task.Delay(100, ct);
        }
    }

    /// <summary>What every agent holds now: its group record, GMEMBERS, which member aliases are duplex, its outbox.</summary>
    private async Task<List<SimAgentSnapshot>> SnapshotAsync(CancellationToken ct)
    {
        var snaps = new List<SimAgentSnapshot>();
        foreach (var a in _agents)
        {
            var (group, jobs) = await a.Agent.Store.TransactAsync(tx =>
            {
                var g = tx.GetGroup(Gid);
                var js = tx.AliasesWithJobs().SelectMany(alias => tx.NextJobs(alias, 1000)).Select(j => $"{j.Alias} {j.Kind} (attempts {j.Attempts}{JobOwner(tx, j.Alias)})").ToList();
                return (g, js);
            }, ct);
            // A join that failed (its inviter withdrew, or its queue was gone for good) ends the group there
            // with GLEFT naming the inviter (groups.md §6.7); an inviter removed before anyone else connected
            // to its newcomer removes it too (§6.8): not a member from then on.
            if (group is { Status: GroupStatus.Active } && !a.Ids.Any(id => id.AsSpan().SequenceEqual(group.MemberId))) a.Ids.Add(group.MemberId);
            if (a.Member && group is { Status: GroupStatus.Left or GroupStatus.Removed })
            {
                a.Member = false;
                Note($"{a.Name}'s join ended: its group is {group.Status.ToString().ToLowerInvariant()}");
                // Taken along as its inviter was removed: what it removed meanwhile may have reached nobody, as for
                // a remover that is removed itself (seed 10308: its only connection was to the removed inviter).
                lock (_departures) RemovalsMayBeVoid(a, "is out, and its removals of");
            }
            List<GroupMemberInfo> members = [];
            try
            {
                if (group is { Status: GroupStatus.Active }) members = await a.Agent.GroupMembersAsync(Gid, ct);
            }
            catch (AgentProtocolException e) when (e.Error.ToString() == "GROUP NOT_MEMBER")
            {
                // The group ended between the two reads (a join failing, a removal arriving): no members, as if
                // read a moment later; the next snapshot sees its new status (seed 8320).
            }
            var duplex = await a.Agent.Store.TransactAsync(tx => members.Select(m => a.Agent.Connections.IsDuplex(tx, m.Alias)).ToList(), ct);
            // The group connection's chain at this end (agent.md §1.3): what a lost envelope looks like in a report.
            var chains = await a.Agent.Store.TransactAsync(tx => members.Select(m =>
                tx.ListMembers(Gid).LastOrDefault(r => r.DirectAlias == m.Alias && m.MemberId is not null && r.MemberId is { } id && id.AsSpan().SequenceEqual(m.MemberId))
                    is { GroupConn.Length: > 0 } r && tx.GetConnection(r.GroupConn) is { } c ? (Sent: c.LastSndId, Received: c.LastExtSndId) : (Sent: 0L, Received: 0L)).ToList(), ct);
            snaps.Add(new SimAgentSnapshot(a.Index, a.Name, a.Member, a.JoinClock, group?.Status.ToString().ToLowerInvariant(),
                group is { Status: GroupStatus.Active } ? group.MemberId : null,
                members.Select((m, i) => new SimMemberRecord(m.Alias, m.MemberId ?? [], m.Status, duplex[i], chains[i].Sent, chains[i].Received)).ToList(),
                jobs, a.Deliveries()));
        }
        return snaps;
    }

    /// <summary>Whose a stuck job's connection is: the member record on it, or none (an orphan).</summary>
    private static string JobOwner(Store.StoreTx tx, string alias) =>
        tx.MemberByConn(alias) is { } m ? $", member {GroupEnvelopeHandler.Short(m.MemberId)} {m.Status}"
        : tx.GetConnection(alias) is { Owner.Length: > 0 } c ? $", owner {c.Owner}, no member on it" : "";

    /// <summary>Every agent's member records as stored (the trace of a schedule that did not settle).</summary>
    private async Task LogRecordsAsync(CancellationToken ct)
    {
        foreach (var a in _agents)
        {
            var lines = await a.Agent.Store.TransactAsync(tx =>
            {
                if (tx.GetGroup(Gid) is not { } g) return [$"{a.Name}: no group"];
                string Name(byte[]? id)
                {
                    if (id is null) return "?";
                    foreach (var x in _agents)
                    {
                        var k = x.Ids.FindIndex(own => own.AsSpan().SequenceEqual(id));
                        if (k >= 0) return $"{x.Name}#{k + 1}";
                    }
                    return "?" + GroupEnvelopeHandler.Short(id);
                }
                var list = new List<string> { $"{a.Name}: group {g.Status}, member {GroupEnvelopeHandler.Short(g.MemberId)}" };
                foreach (var m in tx.ListMembers(Gid))
                    list.Add($"  {a.Name} holds {Name(m.MemberId)} {m.Status}{(m.InvitedByUs ? " invited by us" : "")}{(g.InviterConn == m.GroupConn && m.GroupConn.Length > 0 ? " our inviter" : "")}"
                        + $" introduced by {(m.IntroducerConn.Length == 0 ? "-" : Name(tx.MemberByConn(m.IntroducerConn)?.MemberId))}, alias {m.DirectAlias}");
                return list;
            }, ct);
            foreach (var line in lines) _log(line);
        }
    }

    /// <summary>
    /// Polls (every 250 ms, bounded by <see cref="GroupSimOptions.SettleTimeout"/>) until every invariant holds;
    /// gives up early when every outbox is empty and nothing changed for <see cref="GroupSimOptions.SettleQuiet"/>.
    /// A settle that fails is one <c>settle</c> violation naming what it saw; the last one (<paramref name="final"/>)
    /// records each violation of its last look.
    /// </summary>
    /// <summary>A target of an uncertain removal is a member while its group is active, with its earlier join.</summary>
    private async Task ResolveUncertainRemovalsAsync()
    {
        List<int> uncertain;
        lock (_departures)
        {
            foreach (var t in _removedByLeavers)
                if (_removalLinks.TryGetValue(t, out var links) && !links.Contains(t) && links.All(i => !_agents[i].Member) && _uncertain.Add(t))
                    Note($"{_agents[t].Name}'s remover left connected only to members that are gone: its removal may have reached nobody");
            uncertain = [.. _uncertain];
        }
        foreach (var i in uncertain)
        {
            var active = await GroupStatusAsync(_agents[i]) == GroupStatus.Active;
            if (_agents[i].Member != active) Note($"{_agents[i].Name}'s removal {(active ? "did not take effect" : "took effect")}");
            _agents[i].Member = active;
        }
    }

    private async Task<bool> SettleAsync(string label, bool final, CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        string? lastPrint = null;
        var quietSince = Stopwatch.GetTimestamp();
        List<SimViolation> violations;
        while (true)
        {
            await ResolveUncertainRemovalsAsync();
            var snaps = await SnapshotAsync(ct);
            List<SimSent> sent;
            lock (_sent) sent = _sent.ToList();
            violations = GroupSimChecker.Check(snaps, sent, _settlePoints, _o);
            if (violations.Count == 0)
            {
                lock (_departures)
                {
                    _removedBy.Clear();
                    _uncertain.Clear();
                    _removalLinks.Clear();
                    _removedByLeavers.Clear();
                }
                _settlePoints.Add(Tick());
                _log($"seed {_schedule.Seed}: settled {label} in {Stopwatch.GetElapsedTime(started).TotalSeconds:F1} s");
                return true;
            }
            var print = GroupSimChecker.Fingerprint(snaps);
            if (print != lastPrint || snaps.Any(s => s.Jobs.Count > 0))
            {
                lastPrint = print;
                quietSince = Stopwatch.GetTimestamp();
            }
            var elapsed = Stopwatch.GetElapsedTime(started);
            if (elapsed > _o.SettleTimeout || Stopwatch.GetElapsedTime(quietSince) > _o.SettleQuiet) break;
            await Task.Delay(250, ct);
        }
        var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        if (final)
        {
            await LogRecordsAsync(ct);
            Fail("settle", $"{label}: not settled after {seconds:F0} s");
            foreach (var v in violations) Fail(v.Invariant, v.Detail);
        }
        else
        {
            Fail("settle", $"{label}: not settled after {seconds:F0} s: {string.Join("; ", violations.Take(3))}{(violations.Count > 3 ? $"; … {violations.Count - 3} more" : "")}");
        }
        return false;
    }
}

/// <summary>A message answered GSENT: its body, author, the clock when GSEND was called and its place in the author's order.</summary>
public sealed record SimSent(string Body, int Author, long Clock, int AuthorIndex);

/// <summary>A group message notification as a reader got it.</summary>
public sealed record SimDelivery(string Body, bool History, bool IntegrityOk);

/// <summary>A GMEMBERS record; <paramref name="Sent"/> and <paramref name="Received"/>: the last sndMsgId sent and received on its group connection.</summary>
public sealed record SimMemberRecord(string Alias, byte[] MemberId, GroupMemberStatus Status, bool Duplex, long Sent = 0, long Received = 0);

/// <summary>One agent at one look: the model's view of it (member, join clock) and what the agent holds.</summary>
public sealed record SimAgentSnapshot(int Index, string Name, bool Member, long JoinClock, string? GroupStatus, byte[]? OwnMemberId,
    IReadOnlyList<SimMemberRecord> Members, IReadOnlyList<string> Jobs, IReadOnlyList<SimDelivery> Deliveries);

/// <summary>One simulated person: an agent, its client session, a reader of that session, and the model's view of it.</summary>
internal sealed class SimAgent(int index)
{
    public int Index { get; } = index;
    public string Name { get; } = "a" + index.ToString(CultureInfo.InvariantCulture);
    public AgentOptions? Options { get; set; }
    public SmpAgent Agent { get; set; } = null!;
    public ClientSession Session { get; set; } = null!;
    public HashSet<int> DirectTo { get; } = [];

    /// <summary>Its member ids, one per time it was in the group (as far as the snapshots saw), for the trace.</summary>
    public List<byte[]> Ids { get; } = [];

    /// <summary>The model: a member since its GJOIN (or GNEW) returned at <see cref="JoinClock"/>, until it left or was removed.</summary>
    public volatile bool Member;
    public long JoinClock { get; set; }
    public int NextSeq { get; set; }

    private readonly Lock _lock = new();
    private readonly List<(string Alias, string Text, bool Taken)> _outputs = [];
    private readonly List<SimDelivery> _deliveries = [];
    private readonly List<string> _errors = [];
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private CancellationTokenSource? _stop;
    private Task? _reader;

    public int NotOkIntegrity { get; private set; }
    public int DeliveryCount { get { lock (_lock) return _deliveries.Count; } }
    public int ErrorCount { get { lock (_lock) return _errors.Count; } }

    public List<SimDelivery> Deliveries()
    {
        lock (_lock) return _deliveries.ToList();
    }

    public List<string> ErrorsSeen()
    {
        lock (_lock) return _errors.ToList();
    }

    public void StartReader(string? historyNotification)
    {
        _stop = new CancellationTokenSource();
        var session = Session;
        var agent = Agent;
        var ct = _stop.Token;
        _reader = Task.Run(async () =>
        {
            try
            {
                while (true)
                {
                    var o = await session.Output.ReadAsync(ct);
                    Record(o.Alias, Encoding.UTF8.GetString(o.Payload), historyNotification);
                    // Not cancellable: once recorded, an output must be reported written, or a restart would give it again.
                    await agent.DeliveredAsync(o);
                }
            }
            catch (Exception e) when (e is OperationCanceledException or ChannelClosedException)
            {
            }
        });
    }

    private TaskCompletionSource _up = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes while the agent runs; a new one is waited for from the start of a stop to the next start.</summary>
    public Task Up => Volatile.Read(ref _up).Task;

    public void MarkUp() => Volatile.Read(ref _up).TrySetResult();

    public async Task StopAsync()
    {
        if (_stop is null) return;
        Volatile.Write(ref _up, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        await _stop.CancelAsync();
        await _reader!;
        _stop.Dispose();
        _stop = null;
        await Agent.DisposeAsync();
    }

    private void Record(string alias, string text, string? historyNotification)
    {
        TaskCompletionSource changed;
        lock (_lock)
        {
            _outputs.Add((alias, text, false));
            var history = historyNotification is not null && text.StartsWith(historyNotification + " ", StringComparison.Ordinal);
            if (alias == GroupSimulation.Gid && (history || text.StartsWith("GMSG ", StringComparison.Ordinal)
                                                    // Forwarded by an introducer (groups.md §6.6.1): a live delivery too.
                                                    || text.StartsWith("GFMSG ", StringComparison.Ordinal)))
            {
                var nl = text.IndexOf('\n');
                var header = nl < 0 ? text : text[..nl];
                var parts = header.Split(' ');
                var ok = parts.Length > 2 && parts[2] == "OK";
                if (!ok) NotOkIntegrity++;
                _deliveries.Add(new SimDelivery(nl < 0 ? "" : text[(nl + 1)..], history, ok));
            }
            else if (text.StartsWith("ERR ", StringComparison.Ordinal)) _errors.Add($"'{text}' on {alias}");
            changed = _changed;
            _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        changed.TrySetResult();
    }

    /// <summary>Completes at this agent's next output.</summary>
    public Task NextOutput
    {
        get { lock (_lock) return _changed.Task; }
    }

    /// <summary>The first output not taken yet on <paramref name="alias"/> that starts with <paramref name="prefix"/>, taken; waits for it if none.</summary>
    public async Task<string> WaitAsync(string alias, string prefix, TimeSpan patience)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(patience.TotalSeconds * Stopwatch.Frequency);
        while (true)
        {
            Task changed;
            lock (_lock)
            {
                var i = _outputs.FindIndex(o => !o.Taken && o.Alias == alias && o.Text.StartsWith(prefix, StringComparison.Ordinal));
                if (i >= 0)
                {
                    _outputs[i] = _outputs[i] with { Taken = true };
                    return _outputs[i].Text;
                }
                changed = _changed.Task;
            }
            var left = deadline - Stopwatch.GetTimestamp();
            if (left <= 0)
            {
                string recent;
                lock (_lock) recent = string.Join(" | ", _outputs.TakeLast(8).Select(o => $"{o.Alias}: {o.Text.Split('\n')[0]}"));
                throw new TimeoutException($"{Name}: no '{prefix}' on {alias} within {patience.TotalSeconds:F0} s; recent: {recent}");
            }
            await Task.WhenAny(changed, Task.Delay(TimeSpan.FromSeconds((double)left / Stopwatch.Frequency)));
        }
    }
}

/// <summary>An agent's log (from <paramref name="level"/> up) into the simulation's verbose log, named by agent.</summary>
internal sealed class SimLoggerFactory(string agent, Action<string> write, LogLevel level) : ILoggerFactory
{
    public ILogger CreateLogger(string categoryName) => new Logger(agent, write, level);

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public void Dispose()
    {
    }

    private sealed class Logger(string agent, Action<string> write, LogLevel level) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= level;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel)) write($"  {DateTime.UtcNow:HH:mm:ss.fff} {agent} {logLevel}: {formatter(state, exception)}{(exception is null ? "" : " " + exception.Message)}");
        }
    }
}
