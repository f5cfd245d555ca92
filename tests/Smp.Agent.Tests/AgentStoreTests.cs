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
                Assert.Equal(2, store.SchemaVersion);
                await store.TransactAsync(tx => tx.InsertConnection(new ConnectionRecord("x", ConnectionKind.Direct, ConnectionStatus.Pending)));
            }
            await using (var again = await AgentStore.OpenAsync(path))
            {
                Assert.Equal(2, again.SchemaVersion);
                Assert.True(await again.TransactAsync(tx => tx.ConnectionExists("x")));
            }
        }
        finally
        {
            dir.Delete(recursive: true);
        }
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
            await Assert.ThrowsAsync<InvalidOperationException>(() => AgentStore.OpenAsync(path));
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
