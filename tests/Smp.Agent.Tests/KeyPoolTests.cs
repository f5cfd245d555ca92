using Microsoft.Extensions.Logging.Abstractions;
using Smp.Agent.Runtime;
using Smp.Agent.Store;

namespace Smp.Agent.Tests;

/// <summary>
/// The key pool (agent.md, "Key pool"): keys really made ahead, kept in the database across restarts, and
/// each used once, also across restarts and rolled-back transactions.
/// </summary>
public sealed class KeyPoolTests : IAsyncLifetime
{
    private readonly AgentHarness _h = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _h.DisposeAsync();

    private static Task WhenFullAsync(SmpAgent agent) => agent.Connections.KeyPool.WhenFullAsync().WaitAsync(TestSupport.Patience);

    private static Task<List<(long Id, int Bits, byte[] Pkcs8)>> PoolRowsAsync(SmpAgent agent) =>
        agent.Store.TransactAsync(tx => tx.ListPoolKeys());

    /// <summary>Every private key in the agent's queue records.</summary>
    private static Task<List<byte[]>> QueueKeysAsync(SmpAgent agent) => agent.Store.TransactAsync(tx =>
    {
        var keys = new List<byte[]>();
        foreach (var c in tx.ListConnections())
        {
            if (tx.GetRcvQueue(c.Alias) is { } r) keys.AddRange([r.RcvKey, r.DecryptKey]);
            if (tx.GetSndQueue(c.Alias) is { } s) keys.AddRange([s.SndKey, s.SignKey]);
        }
        return keys;
    });

    [Fact]
    public async Task Pool_keys_are_stored_and_a_restarted_agent_uses_them_without_generating_any()
    {
        var server = await _h.StartServerAsync();
        var a = await _h.StartAgentAsync("a", server);
        await WhenFullAsync(a);
        // Test options: 1024-bit signing keys (4 kept) and 2048-bit end-to-end keys (2 kept).
        var stored = await PoolRowsAsync(a);
        Assert.Equal(4, stored.Count(k => k.Bits == 1024));
        Assert.Equal(2, stored.Count(k => k.Bits == 2048));

        a = await _h.RestartAgentAsync(a);
        var pool = a.Connections.KeyPool;
        Assert.Equal(6, pool.Loaded);
        var (alias, _) = await a.NewAsync(a.Connect("alice"), "bob");

        Assert.Equal(0, pool.GeneratedOnDemand);
        var rcv = await a.Store.TransactAsync(tx => tx.GetRcvQueue(alias));
        var storedKeys = stored.Select(k => Convert.ToBase64String(k.Pkcs8)).ToHashSet();
        Assert.Contains(Convert.ToBase64String(rcv!.RcvKey), storedKeys);
        Assert.Contains(Convert.ToBase64String(rcv.DecryptKey), storedKeys);
        var left = (await PoolRowsAsync(a)).Select(k => Convert.ToBase64String(k.Pkcs8)).ToHashSet();
        Assert.DoesNotContain(Convert.ToBase64String(rcv.RcvKey), left);
        Assert.DoesNotContain(Convert.ToBase64String(rcv.DecryptKey), left);
    }

    [Fact]
    public async Task No_key_is_in_two_queues_across_restarts_and_a_used_key_leaves_the_pool_table()
    {
        var (server, a, b) = await _h.ServerAndTwoAgentsAsync();
        for (var round = 0; round < 3; round++)
        {
            await WhenFullAsync(a);
            await WhenFullAsync(b);
            var alice = a.Connect("alice");
            var bob = b.Connect("bob");
            await SessionExtensions.ConnectAsync(a, alice, $"bob{round}", b, bob, $"alice{round}");
            a = await _h.RestartAgentAsync(a);
            b = await _h.RestartAgentAsync(b);
        }
        var used = (await QueueKeysAsync(a)).Concat(await QueueKeysAsync(b)).Select(Convert.ToBase64String).ToList();
        // 3 connections, 4 keys on each side.
        Assert.Equal(24, used.Count);
        Assert.Equal(used.Count, used.Distinct().Count());
        var pooled = (await PoolRowsAsync(a)).Concat(await PoolRowsAsync(b)).Select(k => Convert.ToBase64String(k.Pkcs8));
        Assert.Empty(used.Intersect(pooled));
    }

    [Fact]
    public async Task A_connection_is_set_up_with_pool_size_zero_and_each_side_uses_four_keys()
    {
        var server = await _h.StartServerAsync();
        var a = await _h.StartAgentAsync(_h.Options("a", server) with { KeyPoolSize = 0 });
        var b = await _h.StartAgentAsync(_h.Options("b", server) with { KeyPoolSize = 0 });
        await SessionExtensions.ConnectAliceAndBobAsync(a, b);

        foreach (var agent in new[] { a, b })
        {
            var pool = agent.Connections.KeyPool;
            Assert.Equal(4, pool.Used);
            Assert.Equal(4, pool.GeneratedOnDemand);
            Assert.Equal(0, pool.GeneratedAhead);
            Assert.Empty(await PoolRowsAsync(agent));
        }
    }

    [Fact]
    public async Task A_key_taken_in_a_transaction_that_rolls_back_goes_back_and_is_then_used_once()
    {
        await using var store = await AgentStore.OpenAsync(":memory:");
        using var pool = await KeyPool.OpenAsync(store, new Dictionary<int, int> { [1024] = 2 }, NullLogger.Instance);
        await pool.WhenFullAsync().WaitAsync(TestSupport.Patience);
        var rows = await store.TransactAsync(tx => tx.ListPoolKeys());
        Assert.Equal(2, rows.Count);

        PoolKey? first = null;
        await Assert.ThrowsAsync<InvalidOperationException>(() => pool.TransactAsync<bool>((tx, keys) =>
        {
            first = keys.Take(tx, 1024);
            throw new InvalidOperationException("halfway");
        }));
        Assert.Equal(2, (await store.TransactAsync(tx => tx.ListPoolKeys())).Count);
        Assert.Equal(0, pool.Used);

        var second = await pool.TransactAsync((tx, keys) => keys.Take(tx, 1024).Pkcs8);
        var left = await store.TransactAsync(tx => tx.ListPoolKeys());
        Assert.Single(left);
        Assert.DoesNotContain(left, k => k.Pkcs8.AsSpan().SequenceEqual(second));
        Assert.Equal(1, pool.Used);
        Assert.Equal(0, pool.GeneratedOnDemand);
    }

    [Fact]
    public async Task A_transaction_that_finds_no_key_ready_is_run_again_with_a_key_made_outside_it()
    {
        await using var store = await AgentStore.OpenAsync(":memory:");
        using var pool = await KeyPool.OpenAsync(store, new Dictionary<int, int> { [1024] = 0 }, NullLogger.Instance);
        var tries = 0;
        var keys = await pool.TransactAsync((tx, lease) =>
        {
            tries++;
            return (lease.Take(tx, 1024), lease.Take(tx, 1024));
        });
        // Each try that ran short rolled back; its key was made between tries, with no transaction open.
        Assert.Equal(3, tries);
        Assert.NotEqual(Convert.ToBase64String(keys.Item1.Pkcs8), Convert.ToBase64String(keys.Item2.Pkcs8));
        Assert.Equal(2, pool.GeneratedOnDemand);
        Assert.Equal(2, pool.Used);
    }

    [Fact]
    public async Task A_pool_key_whose_row_is_gone_is_refused_rather_than_used_a_second_time()
    {
        await using var store = await AgentStore.OpenAsync(":memory:");
        using var pool = await KeyPool.OpenAsync(store, new Dictionary<int, int> { [1024] = 1 }, NullLogger.Instance);
        await pool.WhenFullAsync().WaitAsync(TestSupport.Patience);
        await store.TransactAsync(tx => { foreach (var k in tx.ListPoolKeys()) tx.DeletePoolKey(k.Id); });
        await Assert.ThrowsAsync<InvalidOperationException>(() => pool.TransactAsync((tx, lease) => lease.Take(tx, 1024)));
    }

    [Fact]
    public async Task A_member_joining_a_group_of_two_uses_twelve_keys_its_inviter_four_and_the_member_introduced_eight()
    {
        var server = await _h.StartServerAsync();
        var (a, b, c) = (await _h.StartAgentAsync("a", server), await _h.StartAgentAsync("b", server), await _h.StartAgentAsync("c", server));
        var (alice, bob, carol) = (a.Connect("alice"), b.Connect("bob"), c.Connect("carol"));
        await SessionExtensions.ConnectAsync(a, alice, "bob", b, bob, "alice");
        await SessionExtensions.ConnectAsync(a, alice, "carol", c, carol, "alice");
        await a.GroupNewAsync(alice, "team", "t"u8.ToArray());
        var bobSkipped = new List<AgentOutput>();
        await JoinAsync(a, alice, "bob", b, bob, bobSkipped);
        long[] before = [a.KeyPoolStatus.Used, b.KeyPoolStatus.Used, c.KeyPoolStatus.Used];

        var carolSkipped = new List<AgentOutput>();
        await JoinAsync(a, alice, "carol", c, carol, carolSkipped);
        // Carol's GCON for Bob (his G_HELLO, sent after his REPLY) says their group connection is duplex at
        // both ends; CON of their direct connection at both ends says the same of it: every key is taken.
        var carolToBob = carolSkipped.Single(o => o.Alias == "team" && o.Text().StartsWith("GCON ", StringComparison.Ordinal) && o.Text() != "GCON alice").Text()[5..];
        await ConAsync(carol, carolSkipped, carolToBob);
        var bobToCarol = (await bob.ExpectAsync(o => o.Alias == "team" && o.Text().StartsWith("GCON ", StringComparison.Ordinal) && o.Text() != "GCON alice", bobSkipped)).Text()[5..];
        await ConAsync(bob, bobSkipped, bobToCarol);

        Assert.Equal(4, a.KeyPoolStatus.Used - before[0]);
        Assert.Equal(8, b.KeyPoolStatus.Used - before[1]);
        // 4 + 8 (m - 1) for a group of m = 2.
        Assert.Equal(12, c.KeyPoolStatus.Used - before[2]);
    }

    [Fact]
    public async Task On_linux_the_refill_thread_runs_at_nice_10_so_it_yields_to_the_agents_work()
    {
        if (!OperatingSystem.IsLinux()) return;
        await using var store = await AgentStore.OpenAsync(":memory:");
        using var pool = await KeyPool.OpenAsync(store, new Dictionary<int, int> { [1024] = 1 }, NullLogger.Instance);
        await pool.WhenFullAsync().WaitAsync(TestSupport.Patience);
        // The thread sets its nice value first thing, before the key it has made by now.
        Assert.NotEqual(0, pool.RefillThreadId);
        var stat = File.ReadAllText($"/proc/self/task/{pool.RefillThreadId}/stat");
        // Fields after the parenthesised name: state is field 3, nice field 19.
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        Assert.Equal("10", fields[19 - 3]);
    }

    private static async Task ConAsync(ClientSession session, List<AgentOutput> skipped, string alias)
    {
        if (skipped.Any(o => o.Alias == alias && o.Text() == "CON")) return;
        await session.ExpectAsync(o => o.Alias == alias && o.Text() == "CON", skipped);
    }

    private static async Task JoinAsync(SmpAgent x, ClientSession xs, string yAlias, SmpAgent y, ClientSession ys, List<AgentOutput> ySkipped)
    {
        await x.GroupAddAsync("team", yAlias);
        var ginv = await ys.ExpectAsync("alice", "GINV", ySkipped);
        await y.GroupJoinAsync(ys, "team", Convert.FromBase64String(ginv.Text().Split(' ')[1]));
        await xs.ExpectAsync("team", "GALL " + yAlias);
        await ys.ExpectAsync("team", "GALL alice", ySkipped);
    }
}
