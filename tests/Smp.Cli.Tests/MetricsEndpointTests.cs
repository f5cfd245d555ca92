using System.Diagnostics.Metrics;
using System.Globalization;
using System.Net;
using Microsoft.Extensions.Logging.Abstractions;

namespace Smp.Cli.Tests;

/// <summary>
/// The reusable metrics host (src/Smp.Cli/MetricsEndpoint.cs) with a meter of the test's own, as the
/// agent will use it with "Smp.Agent": port 0, a counter that moves, a gauge, and the health check.
/// </summary>
public sealed class MetricsEndpointTests
{
    [Fact]
    public async Task Any_named_meter_is_served_in_prometheus_text_with_a_health_check_beside_it()
    {
        var name = "Smp.Test." + Guid.NewGuid().ToString("N");
        using var meter = new Meter(name);
        var things = meter.CreateCounter<long>("smp.test.things", "{thing}", "Things done");
        var level = 7;
        meter.CreateObservableGauge("smp.test.level", () => level, "{item}", "Items waiting");
        var healthy = true;
        await using var endpoint = await MetricsEndpoint.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), [name], "smp-test", () => healthy, NullLoggerFactory.Instance);
        Assert.NotEqual(0, endpoint.Port);
        Assert.Equal(new Uri($"http://127.0.0.1:{endpoint.Port.ToString(CultureInfo.InvariantCulture)}/metrics"), endpoint.MetricsUri);

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(60) };
        things.Add(2);
        var first = await http.GetStringAsync(endpoint.MetricsUri);
        Assert.Contains("# TYPE smp_test_things_total counter", first, StringComparison.Ordinal);
        Assert.Equal(2, Exposition.Value(first, "smp_test_things_total"));
        Assert.Equal(7, Exposition.Value(first, "smp_test_level"));
        things.Add(3);
        level = 1;
        var second = await http.GetStringAsync(endpoint.MetricsUri);
        Assert.Equal(5, Exposition.Value(second, "smp_test_things_total"));
        Assert.Equal(1, Exposition.Value(second, "smp_test_level"));

        var ok = await http.GetAsync(endpoint.HealthUri);
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        healthy = false;
        var down = await http.GetAsync(endpoint.HealthUri);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, down.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync(new Uri(endpoint.MetricsUri, "/other"))).StatusCode);
    }

    [Fact]
    public async Task An_address_in_use_is_an_IOException_naming_it()
    {
        await using var first = await MetricsEndpoint.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), ["Smp.None"], "smp-test", () => true, NullLoggerFactory.Instance);
        await Assert.ThrowsAsync<IOException>(() => MetricsEndpoint.StartAsync(new IPEndPoint(IPAddress.Loopback, first.Port), ["Smp.None"], "smp-test", () => true, NullLoggerFactory.Instance));
    }

    [Theory]
    [InlineData("127.0.0.1:9464", "127.0.0.1", 9464)]
    [InlineData("0.0.0.0:0", "0.0.0.0", 0)]
    [InlineData("[::1]:9464", "::1", 9464)]
    public void Metrics_addresses_parse(string text, string address, int port)
    {
        Assert.True(MetricsEndpoint.TryParseAddress(text, out var endpoint));
        Assert.Equal(new IPEndPoint(IPAddress.Parse(address), port), endpoint);
    }

    [Theory]
    [InlineData("")]
    [InlineData("127.0.0.1")]
    [InlineData("127.0.0.1:")]
    [InlineData(":9464")]
    [InlineData("localhost:9464")]
    [InlineData("127.0.0.1:65536")]
    [InlineData("127.0.0.1:-1")]
    [InlineData("::1:9464")]
    [InlineData("127.0.0.1:94a4")]
    public void Bad_metrics_addresses_are_refused(string text) => Assert.False(MetricsEndpoint.TryParseAddress(text, out _));
}
