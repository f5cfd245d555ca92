using Smp.Agent.Simulation;
using Smp.Protocol.Agent;
using Xunit.Abstractions;

namespace Smp.Agent.Tests;

/// <summary>Heavy tests (several agents each, many RSA keys) run alone, after the others.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class GroupSimulationCollection
{
    public const string Name = "group simulation";
}

/// <summary>
/// The randomized group simulation (groups.md §12) on in-process servers: a bounded number of seeded schedules
/// in CI; `smp-loadgen group-sim` runs many. A failing seed is printed; <c>SMP_SIM_SEED=n</c> runs only that one
/// (the same operations; the network's timing is not reproduced), <c>SMP_SIM_FULL=1</c> uses the full configuration.
/// </summary>
[Collection(GroupSimulationCollection.Name)]
public sealed class GroupSimulationTests(ITestOutputHelper output)
{
    /// <summary>
    /// Convergence under concurrent additions and relaying to members still connecting are implemented (issue 10),
    /// so CI runs <see cref="GroupSimOptions.Full"/>: concurrent adds and the full message invariant.
    /// <see cref="GroupSimOptions.Today"/> (one membership change at a time) is kept for comparison.
    /// </summary>
    private const bool ConvergenceImplemented = true;

    /// <summary>Seeds CI runs: 2 schedules of 6 agents fit the suite's time on 2 busy cores.</summary>
    private static readonly int[] CiSeeds = [1, 2];

    /// <summary>8 rounds: about 30 s a schedule on 2 busy cores (`smp-loadgen group-sim` runs the default 10).</summary>
    private static GroupSimOptions Configuration =>
        (ConvergenceImplemented || Environment.GetEnvironmentVariable("SMP_SIM_FULL") == "1" ? GroupSimOptions.Full : GroupSimOptions.Today) with { Steps = 8 };

    [Fact]
    public async Task Random_schedules_settle_with_every_pair_connected_once_and_every_message_delivered_once_in_order()
    {
        int[] seeds = Environment.GetEnvironmentVariable("SMP_SIM_SEED") is { Length: > 0 } s ? [int.Parse(s, System.Globalization.CultureInfo.InvariantCulture)] : CiSeeds;
        var failed = new List<SimResult>();
        foreach (var seed in seeds)
        {
            var result = await GroupSimulation.RunAsync(seed, Configuration, output.WriteLine);
            output.WriteLine(result.Report());
            if (!result.Passed) failed.Add(result);
        }
        Assert.True(failed.Count == 0,
            $"failing seeds: {string.Join(", ", failed.Select(f => f.Seed))}; rerun one with SMP_SIM_SEED=<seed> dotnet test tests/Smp.Agent.Tests --filter GroupSimulationTests\n" +
            string.Join("\n", failed.Select(f => f.Report())));
    }

    // --- the generator and the checker on their own (no agents) ---

    [Fact]
    public void A_seed_gives_the_same_schedule_every_time_and_another_seed_another()
    {
        var o = GroupSimOptions.Full with { Steps = 30 };
        Assert.Equal(SimSchedule.Generate(7, o).ToString(), SimSchedule.Generate(7, o).ToString());
        Assert.NotEqual(SimSchedule.Generate(7, o).ToString(), SimSchedule.Generate(8, o).ToString());
    }

    [Fact]
    public void Without_concurrent_adds_a_round_has_one_membership_change_and_settles_after_it()
    {
        for (var seed = 0; seed < 50; seed++)
        {
            foreach (var round in SimSchedule.Generate(seed, GroupSimOptions.Today with { Steps = 20 }).Rounds)
            {
                var changes = round.Ops.Count(op => op is SimAdd or SimLeave or SimRemove);
                Assert.True(changes <= 1, $"seed {seed}: {string.Join("; ", round.Ops)}");
                Assert.Equal(changes > 0, round.SettleAfter);
                Assert.Equal(round.Ops.SelectMany(op => op.Agents).Count(), round.Ops.SelectMany(op => op.Agents).Distinct().Count());
            }
        }
    }

    [Fact]
    public void Options_leave_out_the_operations_they_turn_off()
    {
        var o = GroupSimOptions.Full with { Steps = 40, Restarts = false, Outages = false, Leaves = false, Removals = false, Rejects = false };
        for (var seed = 0; seed < 20; seed++)
        {
            var ops = SimSchedule.Generate(seed, o).Rounds.SelectMany(r => r.Ops).ToList();
            Assert.DoesNotContain(ops, op => op is SimRestart or SimOutage or SimLeave or SimRemove or SimAdd { Accept: false });
        }
        var concurrent = Enumerable.Range(0, 20).SelectMany(seed => SimSchedule.Generate(seed, GroupSimOptions.Full with { Steps = 20 }).Rounds);
        Assert.Contains(concurrent, r => r.Ops.Count(op => op is SimAdd) > 1);
    }

    private static readonly byte[] IdA = [1], IdB = [2], IdC = [3];

    private static SimMemberRecord Rec(string alias, byte[] id, GroupMemberStatus status = GroupMemberStatus.Connected, bool duplex = true) => new(alias, id, status, duplex);

    private static SimAgentSnapshot Agent(int i, byte[] id, SimMemberRecord[] members, SimDelivery[]? got = null, string[]? jobs = null, long joined = 1) =>
        new(i, "a" + i, true, joined, "active", id, members, jobs ?? [], got ?? []);

    /// <summary>Three members, all connected to each other, b got a's two messages in order; c got none (c joined later).</summary>
    private static List<SimAgentSnapshot> Settled() =>
    [
        Agent(0, IdA, [Rec("b", IdB), Rec("c", IdC)]),
        Agent(1, IdB, [Rec("a", IdA), Rec("c", IdC)], [new("m1", false, true), new("m2", false, true)]),
        Agent(2, IdC, [Rec("a", IdA), Rec("b", IdB)], joined: 50),
    ];

    private static readonly SimSent[] Sent = [new("m1", 0, 10, 0), new("m2", 0, 11, 1)];

    private static List<string> Invariants(List<SimAgentSnapshot> agents, bool full = true) =>
        GroupSimChecker.Check(agents, Sent, [5], GroupSimOptions.Today with { FullMessageInvariant = full }).Select(v => v.Invariant).ToList();

    [Fact]
    public void The_checker_passes_a_settled_group()
    {
        Assert.Empty(Invariants(Settled()));
    }

    [Fact]
    public void The_checker_finds_a_pair_connected_twice_or_not_at_all()
    {
        var twice = Settled();
        twice[0] = twice[0] with { Members = [.. twice[0].Members, Rec("b2", IdB)] };
        Assert.Contains("pairs", Invariants(twice));
        var never = Settled();
        never[2] = never[2] with { Members = [Rec("a", IdA), Rec("b", IdB, GroupMemberStatus.Joining)] };
        Assert.Contains("pairs", Invariants(never));
        Assert.Contains("agreement", Invariants(never));
        var simplex = Settled();
        simplex[1] = simplex[1] with { Members = [Rec("a", IdA, duplex: false), Rec("c", IdC)] };
        Assert.Equal(["pairs"], Invariants(simplex));
    }

    [Fact]
    public void The_checker_finds_a_departed_member_that_keeps_the_group_and_a_stuck_job()
    {
        var departed = Settled();
        departed[2] = departed[2] with { Member = false };
        departed[0] = departed[0] with { Members = [Rec("b", IdB), Rec("c", IdC, GroupMemberStatus.Left)] };
        departed[1] = departed[1] with { Members = [Rec("a", IdA), Rec("c", IdC, GroupMemberStatus.Left)] };
        Assert.Equal(["departed"], Invariants(departed));
        // Removed while connected to nobody live, it cannot be told (groups.md §10), and holds nobody: alone.
        var alone = departed.ToList();
        alone[2] = alone[2] with { Members = [Rec("a", IdA, GroupMemberStatus.Removed), Rec("b", IdB, GroupMemberStatus.Failed)] };
        Assert.Empty(Invariants(alone));
        alone[2] = alone[2] with { Members = [Rec("a", IdA, GroupMemberStatus.Removed), Rec("b", IdB, GroupMemberStatus.Joining)] };
        Assert.Equal(["departed"], Invariants(alone));
        var stuck = Settled();
        stuck[1] = stuck[1] with { Jobs = ["#gxyz SendMessage (attempts 9)"] };
        Assert.Equal(["jobs"], Invariants(stuck));
    }

    [Fact]
    public void The_checker_finds_a_missing_a_repeated_and_a_reordered_message()
    {
        var missing = Settled();
        missing[1] = missing[1] with { Deliveries = [new("m2", false, true)] };
        Assert.Equal(["messages.missing"], Invariants(missing));
        var twice = Settled();
        twice[1] = twice[1] with { Deliveries = [new("m1", false, true), new("m1", false, true), new("m2", false, true)] };
        Assert.Equal(["messages.duplicate"], Invariants(twice));
        var reordered = Settled();
        reordered[1] = reordered[1] with { Deliveries = [new("m2", false, true), new("m1", false, true)] };
        Assert.Equal(["messages.order"], Invariants(reordered));
        // A message that reached a joining reader as history from its inviter has had its one delivery (§6.6.2)...
        var history = Settled();
        history[1] = history[1] with { Deliveries = [new("m1", true, true), new("m2", false, true)] };
        Assert.Empty(Invariants(history));
        // ...and one that came both live and as history came twice.
        var both = Settled();
        both[1] = both[1] with { Deliveries = [new("m1", true, true), new("m1", false, true), new("m2", false, true)] };
        Assert.Equal(["messages.duplicate"], Invariants(both));
    }

    [Fact]
    public void The_weakened_invariant_requires_only_messages_sent_after_a_settle_that_followed_both_joins()
    {
        var none = Settled();
        none[1] = none[1] with { Deliveries = [] };
        // Settle point 5 lies between the joins (1) and the sends (10, 11): required in both configurations.
        Assert.Contains("messages.missing", Invariants(none, full: false));
        Assert.Contains("messages.missing", Invariants(none, full: true));
        // With b joined at 7, after the only settle point, the sends are required only in full.
        none[1] = none[1] with { JoinClock = 7 };
        Assert.DoesNotContain("messages.missing", Invariants(none, full: false));
        Assert.Contains("messages.missing", Invariants(none, full: true));
    }
}
