-- Disabling a user collects the access tokens issued from their codes.
CREATE INDEX authorization_code_app_user_id_idx ON authorization_code (app_user_id);
