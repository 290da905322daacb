-- recs_store schema, version 5: the web app's views are security barriers.
-- A reader may create functions of its own (in pg_temp); one called in a
-- WHERE clause on a plain view could run before the view's live-generation
-- condition and see the rows of the other generations (recs.publication
-- joins every row of recs_store.generations). With the barrier the view's
-- own conditions come first; leakproof operators (= on the ids) are still
-- pushed down, so a filter on user_id stays an index search.
ALTER VIEW recs.recommendations SET (security_barrier = true);
ALTER VIEW recs.similar_movies SET (security_barrier = true);
ALTER VIEW recs.user_clusters SET (security_barrier = true);
ALTER VIEW recs.movie_clusters SET (security_barrier = true);
ALTER VIEW recs.cluster_popular SET (security_barrier = true);
ALTER VIEW recs.movies SET (security_barrier = true);
ALTER VIEW recs.movie_stats SET (security_barrier = true);
ALTER VIEW recs.rated_movies SET (security_barrier = true);
ALTER VIEW recs.publication SET (security_barrier = true);
ALTER VIEW recs.excluded_movies SET (security_barrier = true);
