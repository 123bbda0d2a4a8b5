import LauncherCore
import Logging

/// The channels this server can send through, from the operator's settings: Slack when a bot
/// token is set, e-mail when an SMTP relay is, webhooks when a signing key is.
public enum NotificationChannels {
    public static func make(_ notifications: NotificationSettings, settings: Settings) -> [WatcherAddress.Kind: any NotificationChannel] {
        var channels: [WatcherAddress.Kind: any NotificationChannel] = [:]
        if let token = notifications.slackToken { channels[.slack] = SlackChannel(api: notifications.slackAPI, token: token) }
        if let server = notifications.smtpServer {
            channels[.email] = EmailChannel(host: server.host, port: server.port, from: notifications.mailFrom)
        }
        if let secret = notifications.webhookSecret { channels[.webhook] = WebhookChannel(secret: secret, settings: settings) }
        return channels
    }

    /// The notifier `wfl serve` and `wfl update` run, with the problems reading its settings.
    public static func notifier(store: any LauncherStore, settings: Settings, logger: Logger) -> (Notifier, problems: [String]) {
        let notifications = NotificationSettings(settings)
        return (
            Notifier(
                store: store, channels: make(notifications, settings: settings), publicURL: notifications.publicURL,
                retry: notifications.retry, logger: logger),
            notifications.problems
        )
    }
}
