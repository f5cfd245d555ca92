using System.Net;
using Smp.Agent.Smp;
using Smp.Protocol.Crypto;
using Smp.Protocol.Encodings;
using Smp.Protocol.Smp;
using Smp.Server;

namespace Smp.Agent.Tests;

/// <summary>The client against our SMP server over loopback.</summary>
public sealed class RealServerTests : IAsyncLifetime
{
    private readonly DirectoryInfo _data = Directory.CreateTempSubdirectory("smp-client-tests-");
    private SmpServer _server = null!;

    private SmpServerAddress Address => new("127.0.0.1", _server.Port, _server.Address.KeyHash);

    public async Task InitializeAsync() => _server = await StartServerAsync(0);

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        _data.Delete(recursive: true);
    }

    private Task<SmpServer> StartServerAsync(int port) => SmpServer.StartAsync(new SmpServerOptions
    {
        DataDirectory = _data.FullName,
        Port = port,
        BindAddress = IPAddress.Loopback,
        StatsInterval = TimeSpan.Zero,
    });

    [Fact]
    public async Task A_queue_is_created_secured_used_and_deleted_through_the_pool()
    {
        await using var recipient = new SmpClientPool(TestSupport.FastOptions());
        await using var sender = new SmpClientPool(TestSupport.FastOptions());
        using var rk = TestSupport.SigningKey();
        using var sk = TestSupport.SigningKey();

        var ids = await recipient.CreateQueueAsync(Address, rk);
        await sender.SendAsync(Address, ids.SenderId, null, "confirmation"u8.ToArray());
        var first = await recipient.Events.ExpectAsync<SmpClientEvent.Message>();
        await recipient.SecureQueueAsync(Address, ids.RecipientId, rk, SmpRsa.ExportPublicKey(sk));
        await recipient.AckAsync(Address, ids.RecipientId, rk);
        var unsigned = await Assert.ThrowsAsync<SmpClientException>(() => sender.SendAsync(Address, ids.SenderId, null, "no"u8.ToArray()));
        await sender.SendAsync(Address, ids.SenderId, sk, "hello"u8.ToArray());
        var second = await recipient.Events.ExpectAsync<SmpClientEvent.Message>();
        await recipient.AckAsync(Address, ids.RecipientId, rk);
        var nothing = await Assert.ThrowsAsync<SmpClientException>(() => recipient.AckAsync(Address, ids.RecipientId, rk));
        await recipient.DeleteAsync(Address, ids.RecipientId, rk);
        var deleted = await Assert.ThrowsAsync<SmpClientException>(() => sender.SendAsync(Address, ids.SenderId, null, "gone"u8.ToArray()));

        Assert.Equal(ids.RecipientId, first.RecipientId);
        Assert.Equal("confirmation"u8.ToArray(), first.Body.ToArray());
        Assert.Equal("SMP AUTH", unsigned.Error.ToWireText());
        Assert.Equal("hello"u8.ToArray(), second.Body.ToArray());
        Assert.NotEqual(first.MsgId, second.MsgId);
        Assert.Equal("SMP NO_MSG", nothing.Error.ToWireText());
        Assert.Equal("SMP AUTH", deleted.Error.ToWireText());
        Assert.False(recipient.IsSubscribed(Address, ids.RecipientId));
    }

    [Fact]
    public async Task The_largest_body_the_client_allows_comes_back_intact_in_the_servers_MSG()
    {
        await using var pool = new SmpClientPool(TestSupport.FastOptions());
        using var rk = TestSupport.SigningKey();
        var body = new byte[SmpClientPool.MaxBodySize];
        Random.Shared.NextBytes(body);

        var ids = await pool.CreateQueueAsync(Address, rk);
        await pool.SendAsync(Address, ids.SenderId, null, body);
        var message = await pool.Events.ExpectAsync<SmpClientEvent.Message>();
        await pool.AckAsync(Address, ids.RecipientId, rk);

        Assert.Equal(body, message.Body.ToArray());
    }

    [Fact]
    public async Task An_unacknowledged_message_goes_again_to_a_new_subscriber_and_the_old_one_gets_END()
    {
        await using var first = new SmpClientPool(TestSupport.FastOptions());
        await using var second = new SmpClientPool(TestSupport.FastOptions());
        using var rk = TestSupport.SigningKey();
        var ids = await first.CreateQueueAsync(Address, rk);

        await first.SendAsync(Address, ids.SenderId, null, "waiting"u8.ToArray());
        await first.Events.ExpectAsync<SmpClientEvent.Message>();
        await second.SubscribeAsync(Address, ids.RecipientId, rk);

        Assert.True(second.Events.TryRead(out var redelivered), "SUB returns after the MSG it fetched");
        Assert.Equal("waiting"u8.ToArray(), Assert.IsType<SmpClientEvent.Message>(redelivered).Body.ToArray());
        var ended = await first.Events.ExpectAsync<SmpClientEvent.SubscriptionEnded>();
        Assert.Equal(ids.RecipientId, ended.RecipientId);
        Assert.False(first.IsSubscribed(Address, ids.RecipientId));
    }

    [Fact]
    public async Task After_a_server_restart_the_pool_resubscribes_and_receives_new_messages()
    {
        await using var recipient = new SmpClientPool(TestSupport.FastOptions());
        using var rk = TestSupport.SigningKey();
        var address = Address;
        var ids = await recipient.CreateQueueAsync(address, rk);

        await _server.DisposeAsync();
        await recipient.Events.ExpectAsync<SmpClientEvent.ServerDown>();
        _server = await StartServerAsync(address.EffectivePort);
        var skipped = new List<SmpClientEvent>();
        await recipient.Events.ExpectAsync<SmpClientEvent.ServerUp>(skipped);
        await using var sender = new SmpClientPool(TestSupport.FastOptions());
        await sender.SendAsync(address, ids.SenderId, null, "after restart"u8.ToArray());
        var message = await recipient.Events.ExpectAsync<SmpClientEvent.Message>(skipped);

        Assert.Empty(skipped);
        Assert.Equal("after restart"u8.ToArray(), message.Body.ToArray());
    }

    [Fact]
    public async Task Many_concurrent_senders_on_one_connection_all_get_their_answers()
    {
        await using var pool = new SmpClientPool(TestSupport.FastOptions());
        using var rk = TestSupport.SigningKey();
        var ids = await pool.CreateQueueAsync(Address, rk);

        await Task.WhenAll(Enumerable.Range(0, 50).Select(i => pool.SendAsync(Address, ids.SenderId, null, BitConverter.GetBytes(i))));

        var message = await pool.Events.ExpectAsync<SmpClientEvent.Message>();
        Assert.Equal(4, message.Body.Length);
    }
}
