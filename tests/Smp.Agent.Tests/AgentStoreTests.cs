using Smp.Agent.Store;

namespace Smp.Agent.Tests;

public sealed class AgentStoreTests
{
    [Fact]
    public async Task A_new_store_is_migrated_to_the_latest_schema_and_reopens_without_migrating_again()
    {
        var dir = Directory.CreateTempSubdirectory("smp-store-");
        try
        {
            var path = Path.Combine(dir.FullName, "agent.db");
            await using (var store = await AgentStore.OpenAsync(path))
            {
                Assert.Equal(Migrations.Steps.Length, store.SchemaVersion);
                await store.TransactAsync(tx => tx.InsertConnection(new ConnectionRecord("x", ConnectionKind.Direct, ConnectionStatus.Pending)));
            }
            await using (var again = await AgentStore.OpenAsync(path))
            {
                Assert.Equal(Migrations.Steps.Length, again.SchemaVersion);
                Assert.True(await again.TransactAsync(tx => tx.ConnectionExists("x")));
            }
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task A_store_at_schema_2_migrates_keeping_its_rows_and_queued_jobs_and_gains_an_empty_key_pool_and_introduction_start_times()
    {
        var dir = Directory.CreateTempSubdirectory("smp-store-");
        try
        {
            var path = Path.Combine(dir.FullName, "agent.db");
            using (var raw = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={path};Pooling=False"))
            {
                // A database as the agent before migration 3 left it, with a sealed message queued (JobKind 5).
                raw.Open();
                using var cmd = raw.CreateCommand();
                cmd.CommandText = Migrations.Steps[0] + Migrations.Steps[1] + """
                    PRAGMA user_version = 2;
                    INSERT INTO connections (alias, kind, status, created_at, last_ext_snd_id, last_rcv_hash) VALUES ('x', 1, 3, '2026-01-01', 7, x'0102');
                    INSERT INTO jobs (alias, kind, corr_id, msg_id, body, created_at) VALUES ('x', 5, 'c', 3, x'aabb', '2026-01-01');
                    INSERT INTO groups (alias, group_id, member_id, clvl, info, status, inviter_conn, created_at) VALUES ('g', x'01', x'02', 0, x'', 1, '', '2026-01-01');
                    INSERT INTO introductions (group_alias, intro_id, invitee, member, status) VALUES ('g', x'0a', 1, 2, 3);
                    """;
                cmd.ExecuteNonQuery();
            }
            await using var store = await AgentStore.OpenAsync(path);
            Assert.Equal(Migrations.Steps.Length, store.SchemaVersion);
            var (conn, jobs) = await store.TransactAsync(tx => (tx.GetConnection("x"), tx.NextJobs("x", 10)));
            Assert.Equal(7, conn!.LastExtSndId);
            Assert.Equal([1, 2], conn.LastRcvHash);
            var job = Assert.Single(jobs);
            Assert.Equal((JobKind.SendMessage, "c", 3L), (job.Kind, job.CorrId, job.MsgId));
            Assert.Equal([0xaa, 0xbb], job.Body);
            Assert.False(await store.TransactAsync(tx => tx.ChainHolds("x", 7, [1, 2])));
            Assert.Empty(await store.TransactAsync(tx => Runtime.KeyPoolTable.ListPoolKeys(tx)));
            // An introduction from before migration 5 has no start time: it counts from the agent's start.
            var now = DateTime.UtcNow;
            Assert.Empty(await store.TransactAsync(tx => Groups.GroupTables.IntroductionsStartedBefore(tx, now, now.AddHours(1))));
            Assert.Single(await store.TransactAsync(tx => Groups.GroupTables.IntroductionsStartedBefore(tx, now, now.AddHours(-1))));
            // Migration 6: the group keeps no history yet.
            Assert.Empty(await store.TransactAsync(tx => Groups.GroupHistoryTables.ListHistory(tx, "g")));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task The_receive_chain_remembers_the_last_1024_positions_of_a_connection()
    {
        await using var store = await AgentStore.OpenAsync(":memory:");
        await store.TransactAsync(tx => tx.InsertConnection(new ConnectionRecord("x", ConnectionKind.Direct, ConnectionStatus.Active)));
        await store.TransactAsync(tx =>
        {
            for (var i = 1; i <= 1100; i++) tx.RecordReceived("x", i, [(byte)(i % 256)]);
        });
        Assert.False(await store.TransactAsync(tx => tx.ChainHolds("x", 76, [76])));
        Assert.True(await store.TransactAsync(tx => tx.ChainHolds("x", 77, [77])));
        Assert.True(await store.TransactAsync(tx => tx.ChainHolds("x", 1100, [1100 % 256])));
        Assert.False(await store.TransactAsync(tx => tx.ChainHolds("x", 1100, [0])));
    }

    [Fact]
    public async Task A_failed_transaction_leaves_nothing_behind()
    {
        await using var store = await AgentStore.OpenAsync(":memory:");
        await Assert.ThrowsAsync<InvalidOperationException>(() => store.TransactAsync(tx =>
        {
            tx.InsertConnection(new ConnectionRecord("x", ConnectionKind.Direct, ConnectionStatus.Pending));
            throw new InvalidOperationException("halfway");
        }));
        Assert.False(await store.TransactAsync(tx => tx.ConnectionExists("x")));
    }

    [Fact]
    public async Task A_store_is_written_ahead_and_synced_fully_only_when_asked_for_power_loss()
    {
        var dir = Directory.CreateTempSubdirectory("smp-store-");
        try
        {
            // SQLite's codes: synchronous 1 = NORMAL (survives a process crash in WAL), 2 = FULL (power loss).
            await using (var normal = await AgentStore.OpenAsync(Path.Combine(dir.FullName, "normal.db")))
            {
                Assert.Equal("wal", normal.Pragma("journal_mode"));
                Assert.Equal("1", normal.Pragma("synchronous"));
            }
            await using (var full = await AgentStore.OpenAsync(Path.Combine(dir.FullName, "full.db"), fullSync: true))
            {
                Assert.Equal("wal", full.Pragma("journal_mode"));
                Assert.Equal("2", full.Pragma("synchronous"));
            }
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Seen_server_message_ids_are_remembered_until_pruned()
    {
        await using var store = await AgentStore.OpenAsync(":memory:");
        await store.TransactAsync(tx => tx.InsertConnection(new ConnectionRecord("x", ConnectionKind.Direct, ConnectionStatus.Pending)));
        Assert.True(await store.TransactAsync(tx => tx.MarkSeen("x", [1, 2, 3])));
        Assert.False(await store.TransactAsync(tx => tx.MarkSeen("x", [1, 2, 3])));
        Assert.Equal(0, await store.TransactAsync(tx => tx.PruneSeen(DateTime.UtcNow.AddDays(-1))));
        Assert.Equal(1, await store.TransactAsync(tx => tx.PruneSeen(DateTime.UtcNow.AddMinutes(1))));
        Assert.True(await store.TransactAsync(tx => tx.MarkSeen("x", [1, 2, 3])));
    }

    [Fact]
    public async Task A_store_from_a_newer_agent_is_refused_rather_than_misread()
    {
        var dir = Directory.CreateTempSubdirectory("smp-store-");
        try
        {
            var path = Path.Combine(dir.FullName, "agent.db");
            await using (var store = await AgentStore.OpenAsync(path))
            {
                await store.TransactAsync(tx => tx.InsertConnection(new ConnectionRecord("x", ConnectionKind.Direct, ConnectionStatus.Pending)));
            }
            using (var raw = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={path};Pooling=False"))
            {
                raw.Open();
                using var cmd = raw.CreateCommand();
                cmd.CommandText = "PRAGMA user_version = 99;";
                cmd.ExecuteNonQuery();
            }
            var e = await Assert.ThrowsAsync<InvalidOperationException>(() => AgentStore.OpenAsync(path));
            Assert.Contains(path, e.Message, StringComparison.Ordinal);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task A_second_store_on_a_database_in_use_is_refused_naming_the_file_and_the_holder()
    {
        var dir = Directory.CreateTempSubdirectory("smp-store-");
        try
        {
            var path = Path.Combine(dir.FullName, "agent.db");
            await using (var first = await AgentStore.OpenAsync(path))
            {
                var e = await Assert.ThrowsAsync<AgentStoreException>(() => AgentStore.OpenAsync(path));
                Assert.Contains(path, e.Message, StringComparison.Ordinal);
                Assert.Contains($"process {Environment.ProcessId}", e.Message, StringComparison.Ordinal);
                Assert.Equal(Environment.ProcessId, e.HolderPid);
                Assert.Equal(path, e.DatabasePath);
                // The refused store took nothing from the running one.
                await first.TransactAsync(tx => tx.InsertConnection(new ConnectionRecord("x", ConnectionKind.Direct, ConnectionStatus.Pending)));
            }
            // Released on dispose; the lock file left behind does not stand in the way.
            Assert.True(File.Exists(path + ".lock"));
            Assert.False(File.Exists(path + ".pid"));
            await using var again = await AgentStore.OpenAsync(path);
            Assert.True(await again.TransactAsync(tx => tx.ConnectionExists("x")));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task A_file_that_is_not_a_database_is_refused_naming_it_and_left_as_it_was()
    {
        var dir = Directory.CreateTempSubdirectory("smp-store-");
        try
        {
            var path = Path.Combine(dir.FullName, "notes.txt");
            var text = string.Concat(Enumerable.Repeat("these are someone's notes, not an SQLite database\n", 200));
            await File.WriteAllTextAsync(path, text);
            var e = await Assert.ThrowsAsync<AgentStoreException>(() => AgentStore.OpenAsync(path));
            Assert.Contains(path, e.Message, StringComparison.Ordinal);
            Assert.Equal(text, await File.ReadAllTextAsync(path));
            // The failed open let go of its lock.
            var again = await Assert.ThrowsAsync<AgentStoreException>(() => AgentStore.OpenAsync(path));
            Assert.DoesNotContain("in use", again.Message, StringComparison.Ordinal);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task A_directory_given_as_the_database_is_refused_naming_it()
    {
        var dir = Directory.CreateTempSubdirectory("smp-store-");
        try
        {
            var e = await Assert.ThrowsAsync<AgentStoreException>(() => AgentStore.OpenAsync(dir.FullName));
            Assert.Contains(dir.FullName, e.Message, StringComparison.Ordinal);
            Assert.Contains("is a directory", e.Message, StringComparison.Ordinal);
            Assert.False(File.Exists(dir.FullName + ".lock"));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}

public sealed class ClientSessionTests
{
    [Fact]
    public void A_client_that_stops_reading_is_closed_instead_of_growing_the_agents_memory()
    {
        var session = new ClientSession("slow", capacity: 3);
        for (var i = 0; i < 3; i++) session.Send(new AgentOutput("", "a", [(byte)'X']));
        Assert.False(session.Closed);
        session.Send(new AgentOutput("", "a", [(byte)'X']));
        Assert.True(session.Closed);
        Assert.True(session.Output.TryRead(out _));
    }
}
